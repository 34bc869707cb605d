import { join } from 'node:path';
import SqliteDatabase from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { runCli, startCliServer } from '../helpers/cli.js';
import { voiceTestEnv } from '../helpers/harness.js';
import { silence, spoken } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

interface Said {
  readonly conversationId: string;
  readonly text: string;
}

const ROUNDS = 10;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('kill -9 during turns', () => {
  const tempDir = useTempDirs();

  it(`${ROUNDS} times, during typed and spoken turns: every acknowledged turn is stored and the database passes its integrity check`, async () => {
    const cwd = tempDir();
    // Engines at the event loop's priority: beside this file CI runs others that keep both cores busy at normal
    // priority, and at server.engineThreadNice 10 the recogniser yields to them (as designed), so a round's few
    // seconds could pass without a spoken turn to kill the server in the middle of.
    const env = { ...voiceTestEnv(), HARKEN_SERVER_ENGINE_THREAD_NICE: '0' };
    const created = runCli(['keys', 'create', '--name', 'chaos', '--scopes', 'conversations,realtime', '--json'], { cwd, env });
    expect(created.status).toBe(0);
    const key = (JSON.parse(created.stdout) as { key: string }).key;
    const headers = { authorization: `Bearer ${key}`, 'content-type': 'application/json' };
    // Short answers, so several spoken turns fit in a round.
    const utterances = ['yes please', 'no thank you', 'seven'].map((text) => spoken(text).samples);
    const acknowledged: Said[] = [];
    const transcribed: Said[] = [];

    for (let round = 0; round < ROUNDS; round += 1) {
      const server = await startCliServer({ cwd, env });
      let running = true;
      const typing = (async () => {
        const response = await fetch(`${server.url}/v1/conversations`, { method: 'POST', headers, body: JSON.stringify({ agent: 'echo' }) });
        const { id } = (await response.json()) as { id: string };
        for (let turn = 0; running; turn += 1) {
          const text = `round ${round} turn ${turn}`;
          const answer = await fetch(`${server.url}/v1/conversations/${id}/messages`, { method: 'POST', headers, body: JSON.stringify({ text }) });
          if (answer.ok) acknowledged.push({ conversationId: id, text });
        }
      })().catch(() => undefined); // the server died mid-request: that turn was not acknowledged
      const talking = (async () => {
        const client = await RealtimeClient.connect({
          url: `${server.url.replace(/^http/, 'ws')}/v1/realtime`,
          credentials: key,
          sampleRate: 16_000,
          agent: 'echo',
          onEvent: (event) => {
            if (event.type === 'transcript' && event.final) transcribed.push({ conversationId: client.sessionReady!.conversationId, text: event.text });
          },
        });
        // Until the server dies: a closed socket makes streamAudio return at once, and a loop of
        // such awaits would never yield to the event that reports the kill.
        for (let turn = 0; running && client.isOpen; turn += 1) {
          await client.streamAudio(utterances[turn % utterances.length]!);
          await client.streamAudio(silence(900));
        }
      })().catch(() => undefined);
      // Killed at a moment of its choosing: during a request, a recognition, a reply or a write.
      await sleep(2_500 + Math.random() * 2_500);
      await server.stop('SIGKILL');
      running = false;
      await Promise.all([typing, talking]);
    }
    // The rounds did real work: typed turns and spoken turns were acknowledged in most of them.
    expect(acknowledged.length).toBeGreaterThan(ROUNDS * 3);
    expect(transcribed.length).toBeGreaterThanOrEqual(ROUNDS / 2);

    const database = new SqliteDatabase(join(cwd, 'data', 'harken.db'), { readonly: true });
    try {
      expect(database.pragma('integrity_check', { simple: true })).toBe('ok');
      const stored = database.prepare("SELECT conversation_id AS conversationId, text FROM messages WHERE role = 'user'").all() as Said[];
      const keys = new Set(stored.map((message) => `${message.conversationId}\u0000${message.text}`));
      const lost = [...acknowledged, ...transcribed].filter((said) => !keys.has(`${said.conversationId}\u0000${said.text}`));
      expect(lost).toEqual([]);
    } finally {
      database.close();
    }
    // And the server starts on it again, knowing how each run ended.
    const after = await startCliServer({ cwd, env });
    try {
      expect(after.stdout()).toContain('the previous run ended by vanishing without a shutdown');
      const ready = await fetch(`${after.url}/ready`);
      expect(ready.status).toBe(200);
    } finally {
      expect(await after.stop('SIGTERM')).toBe(0);
    }
  }, 180_000);
});
