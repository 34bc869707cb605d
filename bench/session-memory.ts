/**
 * Memory per realtime session: `npm run bench` (section "Memory per session"), or alone with
 * `npm run bench:memory`. The server runs in a child process of its own (so the clients'
 * sockets do not count), garbage-collected before each reading; the figures are the growth of
 * its resident and proportional set size (Rss, Pss from /proc/<pid>/smaps_rollup, the server's
 * and its PocketSphinx decoder processes' together) per session.
 *  - idle: N sessions started (continuing existing conversations, so no greeting) and silent;
 *  - the recogniser pool at its bound: as many sessions speaking as there are decoders
 *    (stt.pocketsphinxMaxDecoders), each read mid-utterance with its recogniser working;
 *  - active: M speaking at once, mid-utterance (audio sent up to the middle of a word and no
 *    further, so no utterance can end); the figure is what each one beyond the pool adds;
 *  - after: everything closed (what pools keep).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import koffi from 'koffi';
import { decodeWav } from '../src/audio/wav.js';
import { RealtimeClient } from '../src/client/realtime-client.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const AUDIO_DIR = resolve(process.env.HARKEN_BENCH_AUDIO_DIR ?? join(ROOT, '..', 'shared', 'audio'));
const VAD_MODEL = resolve(process.env.HARKEN_BENCH_VAD_MODEL ?? join(ROOT, '..', 'shared', 'models', 'vad', 'silero_vad_v4.onnx'));
const IDLE_SESSIONS = Number(process.env.HARKEN_BENCH_IDLE_SESSIONS ?? 200);
const ACTIVE_SESSIONS = Number(process.env.HARKEN_BENCH_ACTIVE_SESSIONS ?? 10);
/** The recogniser pool's bound (the default of stt.pocketsphinxMaxDecoders). */
const DECODERS = Number(process.env.HARKEN_BENCH_DECODERS ?? 4);
/** goforward.wav up to the middle of "meters": still speech, so the utterance stays open. */
const MID_UTTERANCE_S = 1.8;

interface Reading {
  readonly rssMb: number;
  readonly pssMb: number;
  /** V8 heap in use plus memory of ArrayBuffers and other external objects: exact for JS-side costs. */
  readonly jsMb: number;
}

type FromServer = { type: 'ready'; url: string; key: string } | ({ type: 'memory' } & Reading);

/** Rss and Pss of one process, in kB, from /proc/<pid>/smaps_rollup. */
const rollupKb = (pid: number | 'self'): { rss: number; pss: number } => {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(rollup)?.[1] ?? 0);
    return { rss: kb('Rss'), pss: kb('Pss') };
  } catch {
    return { rss: 0, pss: 0 }; // gone meanwhile
  }
};

/** The server's children: its PocketSphinx decoder processes (each decoder runs alone in one). */
const childPids = (): number[] =>
  readdirSync('/proc')
    .filter((name) => /^\d+$/.test(name))
    .filter((pid) => {
      try {
        return Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) === process.pid;
      } catch {
        return false;
      }
    })
    .map(Number);

/** The server and its decoder processes together: the memory a session costs the machine. */
const readMemory = (): Reading => {
  const all = [rollupKb('self'), ...childPids().map(rollupKb)];
  const { heapUsed, external } = process.memoryUsage();
  return { rssMb: all.reduce((sum, one) => sum + one.rss, 0) / 1024, pssMb: all.reduce((sum, one) => sum + one.pss, 0) / 1024, jsMb: (heapUsed + external) / 1048576 };
};

const mallocTrim = (() => {
  try {
    return koffi.load('libc.so.6').func('int malloc_trim(size_t pad)') as (pad: number) => number;
  } catch {
    return undefined; // not glibc
  }
})();

/** The child: a real Harken that answers `measure` with its memory after a full GC. */
const serve = async (): Promise<void> => {
  const { loadConfig } = await import('../src/config/load.js');
  const { createLogger } = await import('../src/logging/logger.js');
  const { createHarken } = await import('../src/runtime.js');
  const dataDir = mkdtempSync(join(tmpdir(), 'harken-bench-memory-'));
  const many = String(IDLE_SESSIONS + 10);
  const config = loadConfig({
    env: {
      HARKEN_DATA_DIR: dataDir,
      HARKEN_VAD_MODEL: VAD_MODEL,
      HARKEN_REALTIME_MAX_SESSIONS: many,
      HARKEN_REALTIME_MAX_SESSIONS_PER_CALLER: many,
      HARKEN_REALTIME_MAX_SESSIONS_PER_ADDRESS: many,
      HARKEN_REALTIME_MAX_PENDING_PER_ADDRESS: many,
      HARKEN_RATE_LIMIT_REQUESTS: '1000000',
      HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '1000000',
      HARKEN_REALTIME_IDLE_TIMEOUT_MS: '600000',
      HARKEN_STT_POCKETSPHINX_MAX_DECODERS: String(DECODERS),
    },
  });
  const harken = await createHarken(config, createLogger({ level: 'warn', format: 'json' }));
  const key = (await harken.access.keys.create({ name: 'bench', scopes: ['admin'] })).key;
  const url = await harken.app.listen({ host: '127.0.0.1', port: 0 });
  process.on('message', async (message: { type: string }) => {
    if (message.type === 'measure') {
      for (let round = 0; round < 3; round += 1) {
        (globalThis as { gc?: () => void }).gc?.();
        await new Promise((done) => setTimeout(done, 100));
      }
      // The server trims after each decoder load, on the busy thread pool; settle it here so a
      // reading does not catch a load's freed scratch (and the next one its release).
      mallocTrim?.(0);
      process.send?.({ type: 'memory', ...readMemory() } satisfies FromServer);
    } else if (message.type === 'stop') {
      await harken.close();
      rmSync(dataDir, { recursive: true, force: true });
      process.exit(0);
    }
  });
  process.send?.({ type: 'ready', url, key } satisfies FromServer);
};

const nextMessage = (child: ChildProcess): Promise<FromServer> => new Promise((done) => child.once('message', (message) => done(message as FromServer)));

const measure = async (child: ChildProcess): Promise<Reading> => {
  const reply = nextMessage(child);
  child.send({ type: 'measure' });
  return (await reply) as Reading;
};

export interface SessionMemory {
  readonly idleSessions: number;
  readonly activeSessions: number;
  readonly decoders: number;
  readonly runs: number;
  /** Lowest and highest active RSS per session over the runs. */
  readonly activeRangeMb: readonly [number, number];
  readonly idlePerSessionMb: Reading;
  /** The decoders at their bound, each with its speaking session (total). */
  readonly recogniserPoolMb: Reading;
  /** Each speaking session beyond the pool's. */
  readonly activePerSessionMb: Reading;
  readonly keptAfterCloseMb: Reading;
  readonly baselineMb: Reading;
}

const RUNS = Number(process.env.HARKEN_BENCH_RUNS ?? 3);

/** Native allocations make single readings noisy: medians over RUNS fresh server processes. */
export const sessionMemoryBenchmark = async (): Promise<SessionMemory> => {
  const runs: SessionMemory[] = [];
  for (let run = 0; run < RUNS; run += 1) {
    runs.push(await oneMemoryRun());
    console.error(`  run ${run + 1}: idle ${runs.at(-1)!.idlePerSessionMb.rssMb.toFixed(3)} MB, active ${runs.at(-1)!.activePerSessionMb.rssMb.toFixed(2)} MB per session`);
  }
  const middle = (pick: (memory: SessionMemory) => number) => [...runs.map(pick)].sort((a, b) => a - b)[Math.floor(runs.length / 2)] as number;
  const reading = (pick: (memory: SessionMemory) => Reading): Reading => ({ rssMb: middle((m) => pick(m).rssMb), pssMb: middle((m) => pick(m).pssMb), jsMb: middle((m) => pick(m).jsMb) });
  return {
    idleSessions: IDLE_SESSIONS,
    activeSessions: ACTIVE_SESSIONS,
    decoders: DECODERS,
    runs: runs.length,
    baselineMb: reading((m) => m.baselineMb),
    idlePerSessionMb: reading((m) => m.idlePerSessionMb),
    recogniserPoolMb: reading((m) => m.recogniserPoolMb),
    activePerSessionMb: reading((m) => m.activePerSessionMb),
    activeRangeMb: [Math.min(...runs.map((m) => m.activePerSessionMb.rssMb)), Math.max(...runs.map((m) => m.activePerSessionMb.rssMb))],
    keptAfterCloseMb: reading((m) => m.keptAfterCloseMb),
  };
};

const oneMemoryRun = async (): Promise<SessionMemory> => {
  const child = fork(fileURLToPath(import.meta.url), [], { execArgv: ['--import', 'tsx', '--expose-gc'], env: { ...process.env, HARKEN_BENCH_PART: 'memory-server' }, stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  try {
    const ready = (await nextMessage(child)) as Extract<FromServer, { type: 'ready' }>;
    const wsUrl = `${ready.url.replace(/^http/, 'ws')}/v1/realtime`;
    const speech = decodeWav(readFileSync(join(AUDIO_DIR, 'goforward.wav')));
    const connect = (conversationId?: string) => RealtimeClient.connect({ url: wsUrl, sampleRate: 16_000, agent: 'echo', credentials: ready.key, ...(conversationId ? { conversationId } : {}) });

    // Warm up once: engines loaded, one detector and decoder created, code paths compiled.
    const warm = await connect();
    await warm.waitFor('audio_end', { timeoutMs: 20_000 });
    await warm.streamAudio(speech.samples);
    await warm.streamSilence(1_500);
    await warm.waitFor('audio_end', { after: 2, timeoutMs: 20_000 });
    await warm.close();

    const conversations: string[] = [];
    for (let index = 0; index < IDLE_SESSIONS; index += 1) {
      const response = await fetch(`${ready.url}/v1/conversations`, { method: 'POST', headers: { authorization: `Bearer ${ready.key}`, 'content-type': 'application/json' }, body: JSON.stringify({ agent: 'echo' }) });
      conversations.push(((await response.json()) as { id: string }).id);
    }
    const baselineMb = await measure(child);
    const clients: RealtimeClient[] = [];
    for (const id of conversations) clients.push(await connect(id));
    const idle = await measure(child);

    // Mid-utterance: speech up to the middle of a word and nothing after it (no silence, so the
    // detector cannot end the utterance). The first DECODERS speakers fill the recogniser pool:
    // read once each has a partial transcript (its decoder loaded and working).
    const midUtterance = speech.samples.subarray(0, Math.round(MID_UTTERANCE_S * speech.sampleRate));
    const speak = (client: RealtimeClient) => client.streamAudio(midUtterance);
    const poolSpeakers = clients.slice(0, DECODERS);
    const heard = poolSpeakers.map((client) => client.waitFor('transcript', { timeoutMs: 120_000 }));
    await Promise.all(poolSpeakers.map(speak));
    // Each decoder loads in a process of its own (~0.5 s): allow for it on a busy machine.
    await Promise.all(heard);
    const pool = await measure(child);
    // The rest speak too: their utterances open and wait, audio buffered, for a decoder.
    const others = clients.slice(DECODERS, ACTIVE_SESSIONS);
    const started = others.map((client) => client.waitFor('speech_started', { timeoutMs: 30_000 }));
    await Promise.all(others.map(speak));
    await Promise.all(started);
    const active = await measure(child);
    await Promise.all(clients.map((client) => client.close()));
    // Closed sessions still recognise their callers' last words (they are stored): read once the
    // recogniser pool has nothing left to do, so what is measured is what the pools keep.
    for (const deadline = Date.now() + 60_000; Date.now() < deadline; ) {
      const engines = (await (await fetch(`${ready.url}/v1/admin/engines`, { headers: { authorization: `Bearer ${ready.key}` } })).json()) as { sttPool?: { busy: number; waiting: number } };
      if (!engines.sttPool || (engines.sttPool.busy === 0 && engines.sttPool.waiting === 0)) break;
      await new Promise((done) => setTimeout(done, 200));
    }
    await new Promise((done) => setTimeout(done, 1_000));
    const after = await measure(child);

    const per = (from: Reading, to: Reading, count: number): Reading => ({ rssMb: (to.rssMb - from.rssMb) / count, pssMb: (to.pssMb - from.pssMb) / count, jsMb: (to.jsMb - from.jsMb) / count });
    const activePerSessionMb = per(pool, active, ACTIVE_SESSIONS - DECODERS);
    return {
      idleSessions: IDLE_SESSIONS,
      activeSessions: ACTIVE_SESSIONS,
      decoders: DECODERS,
      runs: 1,
      activeRangeMb: [activePerSessionMb.rssMb, activePerSessionMb.rssMb],
      baselineMb,
      idlePerSessionMb: per(baselineMb, idle, IDLE_SESSIONS),
      recogniserPoolMb: per(idle, pool, 1),
      activePerSessionMb,
      keptAfterCloseMb: per(baselineMb, after, 1),
    };
  } finally {
    child.send({ type: 'stop' });
    await new Promise((done) => child.once('exit', done));
  }
};

export const sessionMemoryMarkdown = (memory: SessionMemory): string => {
  const mb = (value: number) => `${value.toFixed(3)} MB`;
  return [
    `## Memory per session (${new Date().toISOString().slice(0, 10)}, medians of ${memory.runs} runs)`,
    '',
    `Server alone in its own process after warm-up: ${mb(memory.baselineMb.rssMb)} RSS (engines and shared models loaded). Active per session ranged ${mb(memory.activeRangeMb[0])}–${mb(memory.activeRangeMb[1])} over the runs.`,
    '',
    '| Sessions | RSS per session | PSS per session | JS heap + external per session |',
    '|---|---|---|---|',
    `| ${memory.idleSessions} started, silent (idle) | ${mb(memory.idlePerSessionMb.rssMb)} | ${mb(memory.idlePerSessionMb.pssMb)} | ${mb(memory.idlePerSessionMb.jsMb)} |`,
    `| The recogniser pool at its bound: ${memory.decoders} sessions speaking, ${memory.decoders} decoders working (total, shared) | ${mb(memory.recogniserPoolMb.rssMb)} | ${mb(memory.recogniserPoolMb.pssMb)} | ${mb(memory.recogniserPoolMb.jsMb)} |`,
    `| ${memory.activeSessions} speaking at once, mid-utterance: each one beyond the pool's (active, beyond idle) | ${mb(memory.activePerSessionMb.rssMb)} | ${mb(memory.activePerSessionMb.pssMb)} | ${mb(memory.activePerSessionMb.jsMb)} |`,
    `| Kept after all closed (pooled detectors and decoders; total, not per session) | ${mb(memory.keptAfterCloseMb.rssMb)} | ${mb(memory.keptAfterCloseMb.pssMb)} | ${mb(memory.keptAfterCloseMb.jsMb)} |`,
  ].join('\n');
};

if (process.env.HARKEN_BENCH_PART === 'memory-server') await serve();
else if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(sessionMemoryMarkdown(await sessionMemoryBenchmark()));
