/**
 * Phone path benchmark (part of `npm run bench`; alone: `npm run bench:phone`). One in-process
 * Harken with Twilio enabled; the test suite's Media Streams simulator plays Twilio (signed
 * webhook and stream, 20 ms μ-law frames, marks echoed as audio "plays"). Side by side in one
 * run, the same 8 kHz recordings: voice-to-voice over a phone call vs over /v1/realtime with
 * 8 kHz PCM, so the difference is the μ-law path. Then concurrent calls: audible gaps in the reply.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { PcmAudio } from '../src/audio/pcm.js';
import { resample } from '../src/audio/resample.js';
import { RealtimeClient } from '../src/client/realtime-client.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging/logger.js';
import { createHarken, type Harken } from '../src/runtime.js';
import { twilioSid, TwilioSimulator, type SimulatedCall } from '../test/helpers/twilio-simulator.js';
import { fmt, load, median, quantile, speechEndMs } from './voice-bench.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const VAD_MODEL = resolve(process.env.HARKEN_BENCH_VAD_MODEL ?? join(ROOT, '..', 'shared', 'models', 'vad', 'silero_vad_v4.onnx'));
const RUNS = Number(process.env.HARKEN_BENCH_RUNS ?? 3);
const TURN_FILES = ['goforward.wav', 'librivox-0880.wav', 'librivox-0930.wav', 'LJ002-0020.wav'];
const LEVELS = (process.env.HARKEN_BENCH_CALL_LEVELS ?? '1,4,8,12,16').split(',').map(Number);
const ACCOUNT_SID = twilioSid('AC');
const AUTH_TOKEN = 'bench-twilio-auth-token';
const PUBLIC_URL = 'https://voice.bench.invalid';

interface PhoneServer {
  readonly harken: Harken;
  readonly url: string;
  readonly key: string;
  readonly simulator: TwilioSimulator;
  close(): Promise<void>;
}

const startServer = async (): Promise<PhoneServer> => {
  const dataDir = mkdtempSync(join(tmpdir(), 'harken-bench-phone-'));
  const config = loadConfig({
    env: {
      HARKEN_DATA_DIR: dataDir,
      HARKEN_VAD_MODEL: VAD_MODEL,
      HARKEN_TWILIO_ENABLED: 'true',
      HARKEN_TWILIO_ACCOUNT_SID: ACCOUNT_SID,
      HARKEN_TWILIO_AUTH_TOKEN: AUTH_TOKEN,
      HARKEN_TWILIO_PUBLIC_URL: PUBLIC_URL,
      HARKEN_TWILIO_NUMBERS: '+15550100=echo',
      HARKEN_TWILIO_MAX_CONCURRENT_CALLS: '1000',
      HARKEN_REALTIME_MAX_SESSIONS: '1000',
      HARKEN_REALTIME_MAX_SESSIONS_PER_CALLER: '1000',
      HARKEN_RATE_LIMIT_REQUESTS: '1000000',
      HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '1000000',
    },
  });
  const harken = await createHarken(config, createLogger({ level: 'warn', format: 'json' }));
  const key = (await harken.access.keys.create({ name: 'bench', scopes: ['admin'] })).key;
  const url = await harken.app.listen({ host: '127.0.0.1', port: 0 });
  const simulator = new TwilioSimulator({ serverUrl: url, publicUrl: PUBLIC_URL, authToken: AUTH_TOKEN, accountSid: ACCOUNT_SID });
  return {
    harken,
    url,
    key,
    simulator,
    async close() {
      await harken.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
};

const placeCall = async (server: PhoneServer): Promise<SimulatedCall> => {
  const { call, answer } = await server.simulator.call({ to: '+15550100' });
  if (!call) throw new Error(`the call was not answered: ${JSON.stringify(answer)}`);
  return call;
};

const playedOut = (call: SimulatedCall, after: number): Promise<void> => call.playedOut({ after, quietMs: 500, timeoutMs: 60_000 });

/**
 * What the caller hears of a reply: playback starts at the first frame and runs at real time; when
 * the next frame arrives after the buffer ran dry, the line was silent that long.
 */
const worstAudibleGapMs = (log: ReadonlyArray<{ at: number; samples: number }>): number => {
  let playhead = log[0]?.at ?? 0;
  let worst = 0;
  for (const entry of log) {
    if (entry.at > playhead) {
      worst = Math.max(worst, entry.at - playhead);
      playhead = entry.at;
    }
    playhead += entry.samples / 8;
  }
  return worst;
};

/** One spoken turn over a phone call: end of speech in the recording → first reply frame at "Twilio". */
const phoneTurn = async (server: PhoneServer, audio: PcmAudio): Promise<number> => {
  const call = await placeCall(server);
  try {
    await playedOut(call, 0);
    await new Promise((done) => setTimeout(done, 300));
    const before = call.mediaLog.length;
    const startedAt = performance.now();
    await call.say(audio.samples);
    const speechEndedAt = startedAt + speechEndMs(audio);
    await call.silence(2_500);
    await call.waitFor(() => call.mediaLog.length > before, 30_000, 'the reply');
    return (call.mediaLog[before] as { at: number }).at - speechEndedAt;
  } finally {
    call.hangUp();
    await call.closed;
  }
};

/** The same turn over /v1/realtime with the same 8 kHz audio as PCM. */
const realtimeTurn = async (server: PhoneServer, audio: PcmAudio): Promise<number> => {
  const client = await RealtimeClient.connect({ url: `${server.url.replace(/^http/, 'ws')}/v1/realtime`, sampleRate: 8_000, agent: 'echo', credentials: server.key });
  try {
    await client.waitFor('audio_end', { timeoutMs: 30_000 });
    await new Promise((done) => setTimeout(done, 300));
    const mark = client.events.length;
    const framesBefore = client.audioFrameTimes.length;
    const speechEndedAt = client.elapsedMs() + speechEndMs(audio);
    await client.streamAudio(audio.samples);
    const silence = client.streamSilence(2_500);
    await client.waitFor('audio_start', { after: mark, timeoutMs: 30_000 });
    await silence;
    return (client.audioFrameTimes[framesBefore] as number) - speechEndedAt;
  } finally {
    await client.close();
  }
};

/** N calls at once: each caller speaks, then hears the echo; the worst audible gap of each reply. */
const concurrentCalls = async (server: PhoneServer, audio: PcmAudio, calls: number): Promise<{ worstGapMs: number; completed: number }> => {
  const placed = await Promise.all(Array.from({ length: calls }, () => placeCall(server)));
  try {
    await Promise.all(placed.map((call) => playedOut(call, 0)));
    const outcomes = await Promise.allSettled(
      placed.map(async (call) => {
        const before = call.mediaLog.length;
        const count = call.mediaReceived;
        await call.say(audio.samples);
        await call.silence(1_500);
        await playedOut(call, count);
        return worstAudibleGapMs(call.mediaLog.slice(before));
      }),
    );
    const gaps = outcomes.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
    return { worstGapMs: Math.max(0, ...gaps), completed: gaps.length };
  } finally {
    for (const call of placed) call.hangUp();
    await Promise.all(placed.map((call) => call.closed));
  }
};

export const phoneBenchmark = async (): Promise<string> => {
  const recordings = TURN_FILES.map((file) => resample(load(file), 8_000));
  const server = await startServer();
  const phone: number[] = [];
  const realtime: number[] = [];
  const levels = new Map<number, { gaps: number[]; completed: number; attempted: number }>(LEVELS.map((level) => [level, { gaps: [], completed: 0, attempted: 0 }]));
  try {
    for (let run = 0; run < RUNS; run += 1) {
      // Interleaved turn by turn, so drift in the machine hits both paths alike.
      for (const audio of recordings) {
        phone.push(await phoneTurn(server, audio));
        realtime.push(await realtimeTurn(server, audio));
      }
      console.error(`  run ${run + 1}: phone ${fmt(median(phone))} ms, realtime 8 kHz ${fmt(median(realtime))} ms`);
    }
    const echo = recordings[0] as PcmAudio;
    for (let run = 0; run < RUNS; run += 1) {
      for (const calls of LEVELS) {
        const round = await concurrentCalls(server, echo, calls);
        const level = levels.get(calls)!;
        level.gaps.push(round.worstGapMs);
        level.completed += round.completed;
        level.attempted += calls;
      }
      console.error(`  run ${run + 1}: worst audible gap ${LEVELS.map((calls) => `${calls}→${fmt(levels.get(calls)!.gaps.at(-1)!)}`).join(', ')} ms`);
    }
  } finally {
    await server.close();
  }
  const sustained = (() => {
    let best = 0;
    for (const calls of LEVELS) {
      const level = levels.get(calls)!;
      if (median(level.gaps) > 100 || level.completed < level.attempted) break;
      best = calls;
    }
    return best;
  })();
  const differences = phone.map((value, index) => value - (realtime[index] as number));
  return [
    `## Phone calls (Twilio Media Streams, simulated; ${RUNS} runs, ${TURN_FILES.length} recordings at 8 kHz)`,
    '',
    '| Voice-to-voice, echo agent (end of caller speech → first reply frame at the caller side) | Median | p95 |',
    '|---|---|---|',
    `| Phone call: μ-law 8 kHz in 20 ms media messages, marks | ${fmt(median(phone))} ms | ${fmt(quantile(phone, 0.95))} ms |`,
    `| /v1/realtime with the same audio as 8 kHz PCM | ${fmt(median(realtime))} ms | ${fmt(quantile(realtime, 0.95))} ms |`,
    `| Difference, turn by turn (phone − realtime) | ${fmt(median(differences))} ms | ${fmt(quantile(differences, 0.95))} ms |`,
    '',
    '| Concurrent calls | Worst audible gap in a reply, median of runs | Worst in any run | Replies |',
    '|---|---|---|---|',
    ...LEVELS.map((calls) => {
      const level = levels.get(calls)!;
      return `| ${calls} | ${fmt(median(level.gaps))} ms | ${fmt(Math.max(...level.gaps))} ms | ${level.completed}/${level.attempted} |`;
    }),
    '',
    `Sustained (every level up to it with a median worst gap ≤ 100 ms and every reply heard): **${sustained} calls**. A gap is time the caller's line is silent mid-reply: the next frame arrived after everything sent before it had played (Harken sends up to twilio.audioLeadMs ahead).`,
  ].join('\n');
};

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await phoneBenchmark());
