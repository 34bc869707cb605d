import { describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { runCli, startCliServer } from '../helpers/cli.js';
import { voiceTestEnv } from '../helpers/harness.js';
import { recording, spoken } from '../helpers/speech.js';
import { childProcesses, processExists as exists } from '../helpers/processes.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const decoderProcesses = (serverPid: number): number[] => childProcesses(serverPid, /decoder-host/);

interface LogLine {
  readonly time: number | string;
  readonly msg: string;
  readonly pid?: number;
  readonly reason?: string;
  readonly durationMs?: number;
}

describe('a speech recogniser that hangs in the middle of a call', () => {
  const tempDir = useTempDirs();

  it('is killed and replaced within seconds; the caller is recognised and answered on the same connection, and talks on', async () => {
    const cwd = tempDir();
    const env = voiceTestEnv();
    const created = runCli(['keys', 'create', '--name', 'hang', '--scopes', 'realtime', '--json'], { cwd, env });
    expect(created.status).toBe(0);
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const server = await startCliServer({ cwd, env });
    const serverPid = server.process.pid as number;
    let frozen: number | undefined;
    try {
      const client = await RealtimeClient.connect({ url: `${server.url.replace(/^http/, 'ws')}/v1/realtime`, sampleRate: 16_000, credentials: key, agent: 'echo' });
      await client.waitFor('audio_end');
      // At rest the server holds one loaded decoder; the caller's utterance takes it.
      expect(decoderProcesses(serverPid)).toHaveLength(1);
      const held = decoderProcesses(serverPid)[0] as number;
      const speech = recording('goforward.wav').samples;
      const half = Math.floor(speech.length / 2);
      const mark = client.events.length;
      await client.streamAudio(speech.subarray(0, half));
      // SIGSTOP: to the server, a native decode that never returns.
      process.kill(held, 'SIGSTOP');
      frozen = held;
      const frozenAt = Date.now();
      await client.streamAudio(speech.subarray(half));
      const trailing = client.streamSilence(2_500);

      const transcript = await client.waitFor('transcript', { after: mark, where: (event) => event.final, timeoutMs: 10_000 });
      expect(transcript.text).toBe('go forward ten meters');
      const reply = await client.waitFor('reply', { after: mark, where: (event) => event.final, timeoutMs: 10_000 });
      expect(reply.text).toContain('go forward ten meters');
      await trailing;

      // The hung process is gone, killed by the server, and the log says so with the time it took.
      await expect.poll(() => exists(held), { timeout: 5_000 }).toBe(false);
      const logged = server
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LogLine)
        .filter((line) => line.msg.startsWith('a PocketSphinx decoder'));
      expect(logged).toEqual([expect.objectContaining({ pid: held, reason: 'hung', msg: 'a PocketSphinx decoder hung; it was killed and another took over the utterance' })]);
      // From the freeze to the replacement having heard the utterance again.
      const recoveredAt = new Date((logged[0] as LogLine).time).getTime();
      // The stall judge's doing, not the 30 s hard limit (~1.3 s on a quiet machine; loaded CI runs take longer).
      expect(recoveredAt - frozenAt).toBeLessThan(5_000);
      console.log(`hung decoder replaced ${recoveredAt - frozenAt} ms after the freeze`);

      // The call goes on: the next turn on the same connection is recognised by the new decoder.
      const next = client.events.length;
      await client.streamAudio(spoken('yes please').samples);
      await client.streamSilence(1_500);
      const second = await client.waitFor('transcript', { after: next, where: (event) => event.final, timeoutMs: 10_000 });
      expect(second.text).toMatch(/yes/);
      expect(client.isOpen).toBe(true);
      expect(decoderProcesses(serverPid)).not.toContain(held);
      await client.close();
    } finally {
      if (frozen !== undefined && exists(frozen)) process.kill(frozen, 'SIGKILL');
      await server.stop('SIGTERM');
    }
    // Decoder processes end with the server.
    await expect.poll(() => decoderProcesses(serverPid), { timeout: 5_000 }).toEqual([]);
  }, 60_000);

  it('a synthesiser process that hangs during a reply is killed and the sentence made again: the caller hears the whole reply and talks on', async () => {
    const cwd = tempDir();
    const env = voiceTestEnv();
    const created = runCli(['keys', 'create', '--name', 'hang', '--scopes', 'realtime', '--json'], { cwd, env });
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const server = await startCliServer({ cwd, env });
    const serverPid = server.process.pid as number;
    const frozen: number[] = [];
    try {
      const client = await RealtimeClient.connect({ url: `${server.url.replace(/^http/, 'ws')}/v1/realtime`, sampleRate: 16_000, credentials: key, agent: 'echo' });
      await client.waitFor('audio_end');
      // A long utterance: the echo of it is one long sentence (~0.2 s of flite), long enough to catch its process.
      const mark = client.events.length;
      const heardBefore = client.receivedAudio.samples.length;
      await client.streamAudio(recording('1089-134686-0001.wav').samples);
      const trailing = client.streamSilence(4_000);
      await client.waitFor('speech_stopped', { after: mark, timeoutMs: 10_000 });
      const watchedFrom = performance.now();
      while (frozen.length === 0 && performance.now() - watchedFrom < 5_000) {
        const flite = childProcesses(serverPid, /flite/)[0];
        // SIGSTOP: to the server, a synthesis that never finishes.
        if (flite !== undefined) {
          process.kill(flite, 'SIGSTOP');
          frozen.push(flite);
        } else await new Promise((resolve) => setImmediate(resolve));
      }
      expect(frozen).toHaveLength(1);
      const reply = await client.waitFor('reply', { after: mark, where: (event) => event.final, timeoutMs: 10_000 });
      await client.waitFor('audio_end', { after: mark, timeoutMs: 15_000 });
      await trailing;
      expect(client.events.slice(mark).filter((event) => event.type === 'error')).toEqual([]);
      // The whole reply was heard: as long as flite makes the same text (the default voice, slt).
      const { sampleRate } = client.receivedAudio;
      const heardMs = ((client.receivedAudio.samples.length - heardBefore) / sampleRate) * 1000;
      const whole = spoken(reply.text);
      const wholeMs = (whole.samples.length / whole.sampleRate) * 1000;
      expect(wholeMs).toBeGreaterThan(2_000);
      expect(Math.abs(heardMs - wholeMs)).toBeLessThan(wholeMs * 0.05);
      await expect.poll(() => exists(frozen[0] as number), { timeout: 5_000 }).toBe(false);
      const logged = server
        .stdout()
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as LogLine)
        .filter((line) => line.msg.startsWith('a flite process'));
      expect(logged).toEqual([expect.objectContaining({ msg: 'a flite process hung; it was killed and a new one made the sentence' })]);
      // Killed at its limit (0.5 s + 3 ms per character of the sentence), then made again within a second.
      const recovery = logged[0] as LogLine & { limitMs: number };
      expect(recovery.limitMs).toBeGreaterThan(500);
      expect(recovery.limitMs).toBeLessThanOrEqual(500 + 3 * reply.text.length);
      expect((recovery.durationMs as number) - recovery.limitMs).toBeLessThan(1_000);

      // The call goes on.
      const next = client.events.length;
      await client.streamAudio(spoken('yes please').samples);
      await client.streamSilence(1_500);
      expect((await client.waitFor('transcript', { after: next, where: (event) => event.final, timeoutMs: 10_000 })).text).toMatch(/yes/);
      await client.close();
    } finally {
      for (const pid of frozen) if (exists(pid)) process.kill(pid, 'SIGKILL');
      await server.stop('SIGTERM');
    }
  }, 60_000);
});
