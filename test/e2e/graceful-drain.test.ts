import { describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { runCli, startCliServer } from '../helpers/cli.js';
import { voiceTestEnv } from '../helpers/harness.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

interface StoredMessage {
  readonly role: string;
  readonly text: string;
  readonly interrupted?: boolean;
}

describe('graceful drain on SIGTERM', () => {
  const tempDir = useTempDirs();

  it('finishes the reply under way, stores the last words, refuses new sessions, then exits 0', async () => {
    const cwd = tempDir();
    const env = { ...voiceTestEnv(), HARKEN_SERVER_DRAIN_TIMEOUT_MS: '8000' };
    const created = runCli(['keys', 'create', '--name', 'drain', '--scopes', 'realtime,conversations', '--json'], { cwd, env });
    expect(created.status).toBe(0);
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const server = await startCliServer({ cwd, env });
    const wsUrl = `${server.url.replace(/^http/, 'ws')}/v1/realtime`;
    const connect = () => RealtimeClient.connect({ url: wsUrl, sampleRate: 16_000, credentials: key, agent: 'echo' });
    const speech = recording('goforward.wav').samples;

    // A: has just finished a sentence when the signal comes; B: is in the middle of one.
    const answered = await connect();
    const cutOff = await connect();
    await Promise.all([answered.waitFor('audio_end'), cutOff.waitFor('audio_end')]);
    const markA = answered.events.length;
    const markB = cutOff.events.length;
    const talking = cutOff.streamAudio(speech.subarray(0, Math.floor(speech.length * 0.7)));
    await answered.streamAudio(speech);
    const silence = answered.streamSilence(3000);
    await answered.waitFor('speech_stopped', { after: markA, timeoutMs: 5000 });
    await talking;
    const signalled = Date.now();
    const exited = server.stop('SIGTERM');

    const [shutdownA, shutdownB] = await Promise.all([answered.waitFor('shutting_down', { after: markA, timeoutMs: 3000 }), cutOff.waitFor('shutting_down', { after: markB, timeoutMs: 3000 })]);
    expect(shutdownA.deadlineMs).toBe(8000);
    expect(shutdownB.deadlineMs).toBe(8000);

    // While draining: not ready, and a new session is refused with a reason.
    const ready = await fetch(`${server.url}/ready`);
    expect(ready.status).toBe(503);
    expect(((await ready.json()) as { error: { message: string } }).error.message).toContain('shutdown: shutting down');
    await expect(connect()).rejects.toThrow(/\(1001 .*shutting_down/);

    // A's turn was under way: its reply is produced and played to the end before the socket closes.
    const reply = await answered.waitFor('reply', { after: markA, where: (event) => event.final, timeoutMs: 8000 });
    expect(reply.text).toMatch(/^You said: .*forward/);
    await answered.waitFor('audio_end', { after: markA, timeoutMs: 8000 });
    const [closedA, closedB] = await Promise.all([answered.closed, cutOff.closed]);
    expect(closedA.code).toBe(1001);
    expect(closedB.code).toBe(1001);
    await silence;
    expect(await exited).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(8000 + 5000);
    expect(server.stdout()).toContain('live sessions drained');

    // Everything either caller said is in the database after a restart.
    const again = await startCliServer({ cwd, env });
    try {
      const messagesOf = async (conversationId: string): Promise<StoredMessage[]> => {
        const response = await fetch(`${again.url}/v1/conversations/${conversationId}`, { headers: { authorization: `Bearer ${key}` } });
        return ((await response.json()) as { messages: StoredMessage[] }).messages;
      };
      const storedA = await messagesOf(answered.sessionReady!.conversationId);
      expect(storedA.map((message) => message.role)).toEqual(['assistant', 'user', 'assistant']);
      expect(storedA[2]).toMatchObject({ text: reply.text, interrupted: false });
      const storedB = await messagesOf(cutOff.sessionReady!.conversationId);
      expect(storedB.map((message) => message.role)).toEqual(['assistant', 'user']);
      expect(storedB[1]!.text).toMatch(/go|forward/);
    } finally {
      await again.stop('SIGTERM');
    }
  }, 60_000);
});
