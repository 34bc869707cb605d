import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeWav } from '../../src/audio/wav.js';
import { ownThreadId as eventLoopThread } from '../../src/ops/thread-priority.js';
import { startTestServer, voiceTestEnv, type TestServer } from '../helpers/harness.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

/** Fields of /proc/<pid>/stat after the command name: [0] is field 3 (state), so nice (field 19) is [16], ppid (field 4) is [1]. */
const statFields = (path: string): string[] => {
  const stat = readFileSync(path, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
};
const niceOfThread = (thread: number): number => Number(statFields(`/proc/self/task/${thread}/stat`)[16]);
const threads = (): number[] => readdirSync('/proc/self/task').map(Number);

/** Nice values of the flite processes this process has started, sampled until `work` ends. */
const niceOfFliteChildren = async (work: Promise<unknown>): Promise<number[]> => {
  const seen: number[] = [];
  let done = false;
  void work.finally(() => (done = true));
  while (!done) {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      try {
        if (!readFileSync(`/proc/${entry}/comm`, 'utf8').startsWith('flite')) continue;
        const fields = statFields(`/proc/${entry}/stat`);
        if (Number(fields[1]) === process.pid) seen.push(Number(fields[16]));
      } catch {
        // The process ended while being read.
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  await work;
  return seen;
};

// The two tests run in this order in one process: priorities lowered by the second cannot be raised back without privileges.
describe('engine threads run below the event loop', () => {
  const tempDir = useTempDirs();
  const servers: TestServer[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((server) => server.harken.close()));
  });
  const exerciseEngines = async (server: TestServer) => {
    const transcribed = await server.inject({ method: 'POST', url: '/v1/transcribe', headers: { 'content-type': 'audio/wav' }, payload: encodeWav(recording('goforward.wav')) });
    expect(transcribed.statusCode).toBe(200);
    expect((await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: 'Hello there.' } })).statusCode).toBe(200);
  };

  it('leaves every priority alone when server.engineThreadNice is 0', async () => {
    const baseline = niceOfThread(eventLoopThread());
    const before = new Map(threads().map((thread) => [thread, niceOfThread(thread)]));
    const server = await startTestServer(tempDir(), { ...voiceTestEnv(), HARKEN_SERVER_ENGINE_THREAD_NICE: '0' });
    servers.push(server);
    await exerciseEngines(server);
    expect(server.harken.threadPriority.lowerNewThreads()).toBe(0);
    for (const thread of threads()) expect(niceOfThread(thread)).toBe(before.get(thread) ?? baseline);
  });

  it('lowers the engine threads and the flite processes, never the event loop', async () => {
    const baseline = niceOfThread(eventLoopThread());
    const server = await startTestServer(tempDir(), voiceTestEnv());
    servers.push(server);
    await exerciseEngines(server);
    // Threads the engines started after start-up are caught on the next check.
    server.harken.threadPriority.lowerNewThreads();
    const others = threads().filter((thread) => thread !== eventLoopThread());
    expect(others.length).toBeGreaterThan(4);
    for (const thread of others) expect(niceOfThread(thread)).toBeGreaterThanOrEqual(10);
    expect(niceOfThread(eventLoopThread())).toBe(baseline);

    const long = 'The quick brown fox jumps over the lazy dog while the patient waits for the doctor. '.repeat(10);
    const flite = await niceOfFliteChildren(server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: long } }));
    expect(flite.length).toBeGreaterThan(0);
    expect(Math.min(...flite)).toBeGreaterThanOrEqual(10);
  });
});
