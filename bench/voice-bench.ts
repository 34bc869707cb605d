/**
 * Voice benchmark: `npm run bench`. Streams real recordings from ../shared/audio (or
 * HARKEN_BENCH_AUDIO_DIR) through a real in-process Harken on loopback and reports
 * medians and p95 over several runs. Not a test: it prints numbers, it asserts nothing.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { durationMs, type PcmAudio } from '../src/audio/pcm.js';
import { baselineTree } from './baseline-tree.js';
import { openAiRealtimeTurn } from './openai-realtime-turn.js';
import { decodeWav } from '../src/audio/wav.js';
import { RealtimeClient } from '../src/client/realtime-client.js';
import { loadConfig } from '../src/config/load.js';
import { PocketSphinxStt } from '../src/engines/stt/pocketsphinx/pocketsphinx-stt.js';
import { createLogger } from '../src/logging/logger.js';
import { createHarken, type Harken } from '../src/runtime.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const AUDIO_DIR = resolve(process.env.HARKEN_BENCH_AUDIO_DIR ?? join(ROOT, '..', 'shared', 'audio'));
const VAD_MODEL = resolve(process.env.HARKEN_BENCH_VAD_MODEL ?? join(ROOT, '..', 'shared', 'models', 'vad', 'silero_vad_v4.onnx'));
const RUNS = Number(process.env.HARKEN_BENCH_RUNS ?? 3);
const TURN_FILES = ['goforward.wav', 'librivox-0880.wav', 'librivox-0930.wav', 'LJ002-0020.wav'];
const STT_FILES = ['goforward.wav', 'librivox-0880.wav', 'librivox-0930.wav', 'LJ002-0020.wav', '1089-134686-0001.wav', 'librivox-0870.wav'];
const END_OF_TURN_SILENCE_MS = 600;
const LEVELS = (process.env.HARKEN_BENCH_LEVELS ?? '1,2,4,8,12,16').split(',').map(Number);
/** Concurrency is measured with engine threads at these nice values (server.engineThreadNice), side by side. */
const NICE_SETTINGS = ['0', '10'];
const RESULT_MARK = 'BENCH_RESULT ';

export const quantile = (values: number[], q: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * q;
  const lower = Math.floor(position);
  const upper = Math.ceil(position);
  return (sorted[lower] as number) + ((sorted[upper] as number) - (sorted[lower] as number)) * (position - lower);
};
export const median = (values: number[]) => quantile(values, 0.5);
export const fmt = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');
export const load = (file: string): PcmAudio => decodeWav(readFileSync(join(AUDIO_DIR, file)));

/** Where speech ends in a recording: the last 20 ms frame louder than -40 dBFS. */
export const speechEndMs = (audio: PcmAudio): number => {
  const frame = Math.round(audio.sampleRate / 50);
  for (let start = audio.samples.length - frame; start >= 0; start -= frame) {
    let sum = 0;
    for (let index = start; index < start + frame; index += 1) sum += (audio.samples[index] as number) ** 2;
    if (Math.sqrt(sum / frame) / 32768 > 0.01) return ((start + frame) / audio.sampleRate) * 1000;
  }
  return durationMs(audio);
};

/** The bench's own API key, shared by every request and connection it makes. */
let benchKey = '';

const startServer = async (): Promise<{ harken: Harken; url: string; dataDir: string }> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'harken-bench-'));
  const config = loadConfig({
    env: {
      HARKEN_DATA_DIR: dataDir,
      HARKEN_VAD_MODEL: VAD_MODEL,
      HARKEN_VOICE_END_OF_TURN_SILENCE_MS: String(END_OF_TURN_SILENCE_MS),
      // The bench measures voice, not the limits: lift them above what it drives.
      HARKEN_REALTIME_MAX_SESSIONS: '1000',
      HARKEN_REALTIME_MAX_SESSIONS_PER_CALLER: '1000',
      HARKEN_RATE_LIMIT_REQUESTS: '1000000',
      HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '1000000',
      HARKEN_SERVER_ENGINE_THREAD_NICE: process.env.HARKEN_SERVER_ENGINE_THREAD_NICE ?? '10',
    },
  });
  const harken = await createHarken(config, createLogger({ level: 'warn', format: 'json' }));
  benchKey = (await harken.access.keys.create({ name: 'bench', scopes: ['admin'] })).key;
  const url = await harken.app.listen({ host: '127.0.0.1', port: 0 });
  return { harken, url, dataDir };
};

type StoredMessage = { role: string; metrics: { sttLatencyMs: number | null; agentLatencyMs: number | null; ttsFirstAudioMs: number | null; voiceToVoiceMs: number | null } };

/** The last two messages, once the reply's playback timings have been stored (just after it finished playing). */
const lastTurn = async (url: string, conversationId: string): Promise<[StoredMessage, StoredMessage]> => {
  for (let attempt = 0; attempt < 50; attempt += 1) {
    const { messages } = (await (await fetch(`${url}/v1/conversations/${conversationId}`, { headers: { authorization: `Bearer ${benchKey}` } })).json()) as { messages: StoredMessage[] };
    const [user, reply] = messages.slice(-2) as [StoredMessage, StoredMessage];
    if (reply.metrics.voiceToVoiceMs !== null) return [user, reply];
    await new Promise((done) => setTimeout(done, 50));
  }
  throw new Error('reply timings were never stored');
};

/**
 * One spoken turn to the echo agent. Client clock: end of speech in the recording →
 * speech_stopped → first reply audio frame. Server: per-stage timings of the turn.
 */
const oneTurn = async (client: RealtimeClient, audio: PcmAudio, url: string) => {
  const mark = client.events.length;
  const framesBefore = client.audioFrameTimes.length;
  const speechEndedAt = client.elapsedMs() + speechEndMs(audio);
  await client.streamAudio(audio.samples);
  const silence = client.streamSilence(2500);
  const stopped = await client.waitFor('speech_stopped', { after: mark, timeoutMs: 20_000 });
  await client.waitFor('audio_start', { after: mark, timeoutMs: 20_000 });
  await silence;
  await client.waitFor('audio_end', { after: mark, timeoutMs: 20_000 });
  const firstFrameAt = client.audioFrameTimes[framesBefore] as number;
  const [user, reply] = await lastTurn(url, client.sessionReady!.conversationId);
  return {
    voiceToVoiceMs: firstFrameAt - speechEndedAt,
    endOfTurnMs: stopped.atMs - speechEndedAt,
    afterEndOfTurnMs: firstFrameAt - stopped.atMs,
    sttMs: user.metrics.sttLatencyMs ?? 0,
    agentMs: reply.metrics.agentLatencyMs ?? 0,
    ttsMs: reply.metrics.ttsFirstAudioMs ?? 0,
  };
};

/** `openAi`: the same turns over OpenAI's Realtime protocol (absent in trees without it). */
type LatencyResult = { totals: number[]; openAi?: number[]; overheads: number[]; stages: { endOfTurn: number[]; stt: number[]; agent: number[]; tts: number[] } };

/** The latency pass of this process (a child: one per source tree and run). */
const latencyPass = async (runs: number): Promise<LatencyResult> => {
  const server = await startServer();
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/v1/realtime`;
  const totals: number[] = [];
  const openAi: number[] = [];
  const overheads: number[] = [];
  const stages = { endOfTurn: [] as number[], stt: [] as number[], agent: [] as number[], tts: [] as number[] };
  try {
    for (let run = 0; run < runs; run += 1) {
      for (const file of TURN_FILES) {
        const client = await RealtimeClient.connect({ url: wsUrl, sampleRate: 16_000, agent: 'echo', credentials: benchKey });
        await client.waitFor('audio_end');
        await new Promise((done) => setTimeout(done, 300));
        const turn = await oneTurn(client, load(file), server.url);
        await client.close();
        totals.push(turn.voiceToVoiceMs);
        overheads.push(turn.afterEndOfTurnMs - turn.sttMs - turn.agentMs - turn.ttsMs);
        stages.endOfTurn.push(turn.endOfTurnMs);
        stages.stt.push(turn.sttMs);
        stages.agent.push(turn.agentMs);
        stages.tts.push(turn.ttsMs);
        // Only a tree that serves OpenAI's protocol (not an older baseline) is asked to.
        if (process.env.HARKEN_BENCH_OPENAI === '1') {
          const audio = load(file);
          openAi.push(await openAiRealtimeTurn(wsUrl, benchKey, 'echo', audio, speechEndMs(audio), 2_500));
        }
      }
    }
  } finally {
    await server.harken.close();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  return { totals, openAi, overheads, stages };
};

const runLatencyChild = async (benchFile: string, openAi = false): Promise<LatencyResult> => {
  const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, benchFile], {
    cwd: dirname(dirname(benchFile)),
    env: { ...process.env, HARKEN_BENCH_PART: 'latency', HARKEN_BENCH_AUDIO_DIR: AUDIO_DIR, HARKEN_BENCH_VAD_MODEL: VAD_MODEL, HARKEN_BENCH_OPENAI: openAi ? '1' : '0' },
    maxBuffer: 1 << 22,
  });
  const marked = stdout.split('\n').find((line) => line.startsWith(RESULT_MARK));
  if (!marked) throw new Error(`latency pass (${benchFile}) printed no result:\n${stdout}`);
  return JSON.parse(marked.slice(RESULT_MARK.length)) as LatencyResult;
};

const merge = (results: LatencyResult[]): LatencyResult => ({
  totals: results.flatMap((result) => result.totals),
  openAi: results.flatMap((result) => result.openAi ?? []),
  overheads: results.flatMap((result) => result.overheads),
  stages: {
    endOfTurn: results.flatMap((result) => result.stages.endOfTurn),
    stt: results.flatMap((result) => result.stages.stt),
    agent: results.flatMap((result) => result.stages.agent),
    tts: results.flatMap((result) => result.stages.tts),
  },
});

/**
 * Voice-to-voice of this tree and of HARKEN_BENCH_BASELINE (a git revision, default HEAD~1;
 * empty: none), each run in a fresh child process, the two interleaved run by run.
 */
const latencyBenchmark = async (): Promise<{ current: LatencyResult; baseline?: { label: string; result: LatencyResult } }> => {
  const rev = process.env.HARKEN_BENCH_BASELINE ?? 'HEAD~1';
  const tree = rev ? baselineTree(rev, fileURLToPath(import.meta.url)) : undefined;
  const current: LatencyResult[] = [];
  const baseline: LatencyResult[] = [];
  try {
    for (let run = 0; run < RUNS; run += 1) {
      current.push(await runLatencyChild(fileURLToPath(import.meta.url), true));
      if (tree) baseline.push(await runLatencyChild(tree.benchFile));
      console.error(`  run ${run + 1}: voice-to-voice median ${fmt(median(current.at(-1)!.totals))} ms${tree ? `, baseline ${tree.label} ${fmt(median(baseline.at(-1)!.totals))} ms` : ''}`);
    }
  } finally {
    tree?.remove();
  }
  return { current: merge(current), ...(tree ? { baseline: { label: tree.label, result: merge(baseline) } } : {}) };
};

const sttThroughputBenchmark = async () => {
  const files = STT_FILES.map((file) => ({ file, audio: load(file), bytes: readFileSync(join(AUDIO_DIR, file)) }));
  const audioMs = files.reduce((sum, entry) => sum + durationMs(entry.audio), 0);
  const raw = await PocketSphinxStt.create({ modelDir: '/usr/share/pocketsphinx/model/en-us' });
  const server = await startServer();
  const rawRtf: number[] = [];
  const serverRtf: number[] = [];
  const openAiRtf: number[] = [];
  try {
    for (let run = 0; run < RUNS; run += 1) {
      let started = performance.now();
      for (const entry of files) await raw.transcribe(entry.audio);
      rawRtf.push((performance.now() - started) / audioMs);
      started = performance.now();
      for (const entry of files) {
        const response = await fetch(`${server.url}/v1/transcribe`, { method: 'POST', headers: { 'content-type': 'audio/wav', authorization: `Bearer ${benchKey}` }, body: entry.bytes });
        if (!response.ok) throw new Error(`transcribe failed: ${response.status}`);
        await response.json();
      }
      serverRtf.push((performance.now() - started) / audioMs);
      // The same files as OpenAI's clients send them: multipart to /v1/audio/transcriptions.
      started = performance.now();
      for (const entry of files) {
        const form = new FormData();
        form.append('file', new Blob([entry.bytes], { type: 'audio/wav' }), entry.file);
        form.append('model', 'whisper-1');
        const response = await fetch(`${server.url}/v1/audio/transcriptions`, { method: 'POST', headers: { authorization: `Bearer ${benchKey}` }, body: form });
        if (!response.ok) throw new Error(`audio/transcriptions failed: ${response.status}`);
        await response.json();
      }
      openAiRtf.push((performance.now() - started) / audioMs);
    }
  } finally {
    await raw.close();
    await server.harken.close();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  return { rawRtf, serverRtf, openAiRtf, audioMs };
};

/** One round at one concurrency level: N callers speak at once, then hear the reply; stalls in that reply audio. */
const concurrencyRound = async (wsUrl: string, audio: PcmAudio, sessions: number) => {
  const clients = await Promise.all(Array.from({ length: sessions }, () => RealtimeClient.connect({ url: wsUrl, sampleRate: 16_000, agent: 'echo', credentials: benchKey })));
  await Promise.all(clients.map((client) => client.waitFor('audio_end', { timeoutMs: 30_000 })));
  const marks = clients.map((client) => ({ events: client.events.length, frames: client.audioFrameTimes.length }));
  const outcomes = await Promise.allSettled(
    clients.map(async (client, index) => {
      await client.streamAudio(audio.samples);
      const silence = client.streamSilence(2000);
      await client.waitFor('audio_end', { after: marks[index]!.events, timeoutMs: 30_000 });
      await silence;
    }),
  );
  const stalls: number[] = [];
  clients.forEach((client, index) => {
    const times = client.audioFrameTimes.slice(marks[index]!.frames);
    // Frames are 40 ms of audio sent at real time; a gap beyond that is a stall the caller hears.
    for (let frame = 1; frame < times.length; frame += 1) stalls.push(Math.max(0, (times[frame] as number) - (times[frame - 1] as number) - 40));
  });
  await Promise.all(clients.map((client) => client.close()));
  return { worstStallMs: Math.max(0, ...stalls), completed: outcomes.filter((outcome) => outcome.status === 'fulfilled').length };
};

type LevelRound = { sessions: number; worstStallMs: number; completed: number };

/** One pass over the levels in this process (a child: lowered thread priorities cannot be raised back). */
const concurrencyPass = async (levels: number[]): Promise<LevelRound[]> => {
  const server = await startServer();
  const wsUrl = `${server.url.replace(/^http/, 'ws')}/v1/realtime`;
  const audio = load('goforward.wav');
  const rounds: LevelRound[] = [];
  try {
    for (const sessions of levels) rounds.push({ sessions, ...(await concurrencyRound(wsUrl, audio, sessions)) });
  } finally {
    await server.harken.close();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  return rounds;
};

type LevelResult = { sessions: number; medianWorstStallMs: number; maxWorstStallMs: number; completed: number; attempted: number };

/**
 * Each setting RUNS times, the settings interleaved run by run so machine drift hits both alike;
 * a level passes when its median worst stall is ≤ 100 ms and every turn completed.
 */
const concurrencyBenchmark = async (levels: number[]): Promise<Map<string, LevelResult[]>> => {
  const rounds = new Map<string, LevelRound[]>(NICE_SETTINGS.map((nice) => [nice, []]));
  for (let run = 0; run < RUNS; run += 1) {
    for (const nice of NICE_SETTINGS) {
      const { stdout } = await promisify(execFile)(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url)], {
        env: { ...process.env, HARKEN_BENCH_PART: 'concurrency', HARKEN_SERVER_ENGINE_THREAD_NICE: nice },
        maxBuffer: 1 << 20,
      });
      // The server's warnings share stdout; the result is the marked line.
      const marked = stdout.split('\n').find((line) => line.startsWith(RESULT_MARK));
      if (!marked) throw new Error(`concurrency pass (nice ${nice}) printed no result:\n${stdout}`);
      const pass = JSON.parse(marked.slice(RESULT_MARK.length)) as LevelRound[];
      rounds.get(nice)!.push(...pass);
      console.error(`  run ${run + 1}, nice ${nice}: worst stall ${pass.map((round) => `${round.sessions}→${fmt(round.worstStallMs)}`).join(', ')} ms`);
    }
  }
  const results = new Map<string, LevelResult[]>();
  for (const [nice, all] of rounds) {
    results.set(
      nice,
      levels.map((sessions) => {
        const level = all.filter((round) => round.sessions === sessions);
        const worst = level.map((round) => round.worstStallMs);
        return { sessions, medianWorstStallMs: median(worst), maxWorstStallMs: Math.max(...worst), completed: level.reduce((sum, round) => sum + round.completed, 0), attempted: sessions * level.length };
      }),
    );
  }
  return results;
};

const sustainedSessions = (levels: LevelResult[]): number => {
  const firstFailing = levels.findIndex((level) => level.medianWorstStallMs > 100 || level.completed < level.attempted);
  return (firstFailing < 0 ? levels.at(-1) : levels[firstFailing - 1])?.sessions ?? 0;
};

export const voiceBenchmark = async (): Promise<string> => {
  console.error(`audio from ${AUDIO_DIR}; ${RUNS} runs`);
  console.error('voice-to-voice latency…');
  const { current: latency, baseline } = await latencyBenchmark();
  console.error('STT throughput…');
  const stt = await sttThroughputBenchmark();
  console.error('concurrent sessions…');
  const concurrency = await concurrencyBenchmark(LEVELS);
  const lowered = concurrency.get('10')!;
  const equal = concurrency.get('0')!;

  const lines = [
    `## Voice (${new Date().toISOString().slice(0, 10)}, ${RUNS} runs, ${TURN_FILES.length} recordings)`,
    '',
    '| Measure | Median | p95 |',
    '|---|---|---|',
    `| Voice-to-voice (end of caller speech → first reply audio at the client), echo agent | ${fmt(median(latency.totals))} ms | ${fmt(quantile(latency.totals, 0.95))} ms |`,
    `| of which end-of-turn detection (end of speech → speech_stopped; setting ${END_OF_TURN_SILENCE_MS} ms of silence) | ${fmt(median(latency.stages.endOfTurn))} ms | ${fmt(quantile(latency.stages.endOfTurn, 0.95))} ms |`,
    `| of which STT final (after end of turn) | ${fmt(median(latency.stages.stt))} ms | ${fmt(quantile(latency.stages.stt, 0.95))} ms |`,
    `| of which agent | ${fmt(median(latency.stages.agent))} ms | ${fmt(quantile(latency.stages.agent, 0.95))} ms |`,
    `| of which TTS first audio | ${fmt(median(latency.stages.tts))} ms | ${fmt(quantile(latency.stages.tts, 0.95))} ms |`,
    `| Harken's own overhead (speech_stopped → first frame, minus STT, agent and TTS compute) | ${fmt(median(latency.overheads))} ms | ${fmt(quantile(latency.overheads, 0.95))} ms |`,
    `| Voice-to-voice over OpenAI's Realtime protocol (same recordings and agent, GA events, pcm16 24 kHz in base64), same run | ${fmt(median(latency.openAi ?? []))} ms | ${fmt(quantile(latency.openAi ?? [], 0.95))} ms |`,
    '',
    ...(baseline
      ? [
          `| Side by side in the same run (interleaved child processes) | This tree, median | p95 | ${baseline.label}, median | p95 |`,
          '|---|---|---|---|---|',
          `| Voice-to-voice | ${fmt(median(latency.totals))} ms | ${fmt(quantile(latency.totals, 0.95))} ms | ${fmt(median(baseline.result.totals))} ms | ${fmt(quantile(baseline.result.totals, 0.95))} ms |`,
          `| Harken's own overhead | ${fmt(median(latency.overheads))} ms | ${fmt(quantile(latency.overheads, 0.95))} ms | ${fmt(median(baseline.result.overheads))} ms | ${fmt(quantile(baseline.result.overheads, 0.95))} ms |`,
          `| TTS first audio | ${fmt(median(latency.stages.tts))} ms | ${fmt(quantile(latency.stages.tts, 0.95))} ms | ${fmt(median(baseline.result.stages.tts))} ms | ${fmt(quantile(baseline.result.stages.tts, 0.95))} ms |`,
          '',
        ]
      : []),
    '| STT throughput (real-time factor, lower is faster) | Median |',
    '|---|---|',
    `| Raw engine (PocketSphinxStt.transcribe) | ${fmt(median(stt.rawRtf), 3)} |`,
    `| Through the server (POST /v1/transcribe over HTTP, WAV) | ${fmt(median(stt.serverRtf), 3)} |`,
    `| Ratio server / raw | ${fmt(median(stt.serverRtf) / median(stt.rawRtf), 2)} |`,
    `| OpenAI-compatible (POST /v1/audio/transcriptions, multipart WAV) | ${fmt(median(stt.openAiRtf), 3)} |`,
    `| Throughput ratio, raw ÷ OpenAI-compatible (1 = no cost; goal ≥ 0.95) | ${fmt(median(stt.rawRtf) / median(stt.openAiRtf), 2)} |`,
    '',
    '| Concurrent sessions | Worst reply-audio stall, median of runs (engineThreadNice 10, default) | Worst in any run | Turns | Same with engineThreadNice 0 (median) | Worst in any run | Turns |',
    '|---|---|---|---|---|---|---|',
    ...lowered.map((level, index) => {
      const other = equal[index]!;
      return `| ${level.sessions} | ${fmt(level.medianWorstStallMs)} ms | ${fmt(level.maxWorstStallMs)} ms | ${level.completed}/${level.attempted} | ${fmt(other.medianWorstStallMs)} ms | ${fmt(other.maxWorstStallMs)} ms | ${other.completed}/${other.attempted} |`;
    }),
    '',
    `Sustained (every level up to it with median worst stall ≤ 100 ms and all turns completed): **${sustainedSessions(lowered)} sessions** with the default, ${sustainedSessions(equal)} with engine threads at the event loop's priority.`,
  ];
  return lines.join('\n');
};

if (process.env.HARKEN_BENCH_PART === 'latency') console.log(`${RESULT_MARK}${JSON.stringify(await latencyPass(1))}`);
else if (process.env.HARKEN_BENCH_PART === 'stt') {
  // The STT throughput section alone: `HARKEN_BENCH_PART=stt npm run bench:voice`.
  const stt = await sttThroughputBenchmark();
  console.log(`raw ${fmt(median(stt.rawRtf), 3)}, /v1/transcribe ${fmt(median(stt.serverRtf), 3)}, /v1/audio/transcriptions ${fmt(median(stt.openAiRtf), 3)}; raw ÷ OpenAI-compatible ${fmt(median(stt.rawRtf) / median(stt.openAiRtf), 2)}, raw ÷ /v1/transcribe ${fmt(median(stt.rawRtf) / median(stt.serverRtf), 2)}`);
} else if (process.env.HARKEN_BENCH_PART === 'concurrency') console.log(`${RESULT_MARK}${JSON.stringify(await concurrencyPass(LEVELS))}`);
else if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await voiceBenchmark());
