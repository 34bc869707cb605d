/**
 * Turn-taking benchmark: `npm run bench:turns`. A scripted questionnaire (yes/no, a number, a
 * date) answered with Flite-synthesised speech over realtime v1, paced in real time, against two
 * servers side by side in one run — expectation-aware end of turn on and off — and the same
 * prompts with the prompt audio cache on and off. Medians over runs. Not a test: it asserts nothing.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { PcmAudio } from '../src/audio/pcm.js';
import { decodeWav } from '../src/audio/wav.js';
import { RealtimeClient } from '../src/client/realtime-client.js';
import { loadConfig } from '../src/config/load.js';
import { createLogger } from '../src/logging/logger.js';
import { createHarken, type Harken } from '../src/runtime.js';
import { fmt, median, quantile, speechEndMs } from './voice-bench.js';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const VAD_MODEL = resolve(process.env.HARKEN_BENCH_VAD_MODEL ?? join(ROOT, '..', 'shared', 'models', 'vad', 'silero_vad_v4.onnx'));
const RUNS = Number(process.env.HARKEN_BENCH_RUNS ?? 3);

const FLOW = {
  id: 'answers',
  title: 'Answers',
  steps: [
    { id: 'smokes', type: 'yesno', ask: 'Do you smoke?', next: { yes: 'age', no: 'age' } },
    { id: 'age', type: 'number', ask: 'How old are you?', min: 0, max: 120 },
    { id: 'born', type: 'date', ask: 'What is your date of birth?' },
  ],
  endings: { done: { say: 'Thank you.', status: 'completed' } },
};
const ANSWERS = [
  { kind: 'yes/no', parts: ['yes'] },
  { kind: 'number', parts: ['forty two'] },
  { kind: 'date', parts: ['march fifth nineteen eighty two'] },
];
/** A date said with a pause mid-way: a turn ended in the pause cut the caller off. */
const PAUSED_DATE = ['the fifth of', 500, 'march nineteen eighty two'] as const;

const say = (text: string): PcmAudio => {
  const dir = mkdtempSync(join(tmpdir(), 'harken-bench-say-'));
  try {
    execFileSync('flite', ['-voice', 'slt', '-t', text, '-o', join(dir, 'a.wav')]);
    return decodeWav(readFileSync(join(dir, 'a.wav')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
};

const join16k = (parts: ReadonlyArray<string | number>): { samples: Int16Array; lastSpeechEndMs: number } => {
  const pieces = parts.map((part) => (typeof part === 'number' ? new Int16Array((part * 16_000) / 1000) : say(part).samples));
  const samples = new Int16Array(pieces.reduce((sum, piece) => sum + piece.length, 0));
  let offset = 0;
  for (const piece of pieces) {
    samples.set(piece, offset);
    offset += piece.length;
  }
  const last = pieces.at(-1) as Int16Array;
  return { samples, lastSpeechEndMs: ((offset - last.length) / 16_000) * 1000 + speechEndMs({ samples: last, sampleRate: 16_000 }) };
};

interface BenchServer {
  readonly harken: Harken;
  readonly wsUrl: string;
  readonly key: string;
  readonly dir: string;
}

const startServer = async (env: Record<string, string>): Promise<BenchServer> => {
  const dir = mkdtempSync(join(tmpdir(), 'harken-bench-turns-'));
  const flows = join(dir, 'flows');
  execFileSync('mkdir', ['-p', flows]);
  writeFileSync(join(flows, 'answers.json'), JSON.stringify(FLOW));
  const config = loadConfig({
    env: { HARKEN_DATA_DIR: dir, HARKEN_VAD_MODEL: VAD_MODEL, HARKEN_AGENTS_FLOWS_DIR: flows, HARKEN_RATE_LIMIT_REQUESTS: '1000000', HARKEN_RATE_LIMIT_REQUESTS_PER_IP: '1000000', ...env },
  });
  const harken = await createHarken(config, createLogger({ level: 'warn', format: 'json' }));
  const key = (await harken.access.keys.create({ name: 'bench', scopes: ['admin'] })).key;
  const url = await harken.app.listen({ host: '127.0.0.1', port: 0 });
  return { harken, wsUrl: `${url.replace(/^http/, 'ws')}/v1/realtime`, key, dir };
};

const stopServer = async (server: BenchServer) => {
  await server.harken.close();
  rmSync(server.dir, { recursive: true, force: true });
};

/** One questionnaire: voice-to-voice per answer (end of speech in the clip → first reply frame at the client). */
const questionnaire = async (server: BenchServer, answers: ReadonlyArray<{ kind: string; samples: Int16Array; lastSpeechEndMs: number }>) => {
  const client = await RealtimeClient.connect({ url: server.wsUrl, sampleRate: 16_000, agent: 'answers', credentials: server.key });
  const results: Array<{ kind: string; voiceToVoiceMs: number }> = [];
  let conversationId = '';
  try {
    conversationId = client.sessionReady?.conversationId ?? '';
    await client.waitFor('audio_end', { timeoutMs: 20_000 });
    for (const answer of answers) {
      const mark = client.events.length;
      const frames = client.audioFrameTimes.length;
      const startedAt = client.elapsedMs();
      await client.streamAudio(answer.samples);
      const trailing = client.streamSilence(2_000);
      await client.waitFor('audio_start', { after: mark, timeoutMs: 20_000 });
      await trailing;
      await client.waitFor('audio_end', { after: mark, timeoutMs: 20_000 });
      results.push({ kind: answer.kind, voiceToVoiceMs: (client.audioFrameTimes[frames] as number) - (startedAt + answer.lastSpeechEndMs) });
    }
  } finally {
    await client.close();
  }
  // The replies' first audio as stored: from a prompt's synthesis request to its audio.
  const stored = await server.harken.app.inject({ method: 'GET', url: `/v1/conversations/${conversationId}`, headers: { authorization: `Bearer ${server.key}` } });
  const firstAudio = (stored.json().messages as Array<{ role: string; metrics: { ttsFirstAudioMs: number | null } }>)
    .filter((message) => message.role === 'assistant' && message.metrics.ttsFirstAudioMs !== null)
    .map((message) => message.metrics.ttsFirstAudioMs as number);
  return { results, firstAudio };
};

/** The paused date, answered to the date question: was the caller cut off (a turn ended in the pause)? */
const cutOff = async (server: BenchServer, pausedDate: { samples: Int16Array }, earlier: ReadonlyArray<{ samples: Int16Array }>): Promise<boolean> => {
  const client = await RealtimeClient.connect({ url: server.wsUrl, sampleRate: 16_000, agent: 'answers', credentials: server.key });
  try {
    await client.waitFor('audio_end', { timeoutMs: 20_000 });
    for (const answer of earlier) {
      const mark = client.events.length;
      await client.streamAudio(answer.samples);
      const trailing = client.streamSilence(1_500);
      await client.waitFor('audio_end', { after: mark, timeoutMs: 20_000 });
      await trailing;
    }
    const mark = client.events.length;
    await client.streamAudio(pausedDate.samples);
    await client.streamSilence(2_000);
    return client.events.slice(mark).filter((event) => event.type === 'speech_stopped').length > 1;
  } finally {
    await client.close();
  }
};

export const turnTakingBenchmark = async (): Promise<string> => {
  const answers = ANSWERS.map((answer) => ({ kind: answer.kind, ...join16k(answer.parts) }));
  const pausedDate = join16k(PAUSED_DATE);
  const settings = {
    on: { HARKEN_VOICE_ADAPTIVE_END_OF_TURN: 'true', HARKEN_TTS_PROMPT_CACHE_MB: '32' },
    off: { HARKEN_VOICE_ADAPTIVE_END_OF_TURN: 'false', HARKEN_TTS_PROMPT_CACHE_MB: '0' },
  };
  const v2v = { on: new Map<string, number[]>(), off: new Map<string, number[]>() };
  const cuts = { on: 0, off: 0 };
  const ttsFirst = { on: [] as number[], off: [] as number[] };
  for (let run = 0; run < RUNS; run += 1) {
    for (const setting of ['on', 'off'] as const) {
      const server = await startServer(settings[setting]);
      try {
        // Let the prompt cache fill (the bench measures the steady state, not the first seconds after start).
        await new Promise((done) => setTimeout(done, 3_000));
        const { results, firstAudio } = await questionnaire(server, answers);
        for (const turn of results) v2v[setting].set(turn.kind, [...(v2v[setting].get(turn.kind) ?? []), turn.voiceToVoiceMs]);
        ttsFirst[setting].push(...firstAudio);
        if (await cutOff(server, pausedDate, answers.slice(0, 2))) cuts[setting] += 1;
        const hits = server.harken.voice!.engines.metrics.view()['tts.cache_hit']?.calls ?? 0;
        console.error(`  run ${run + 1}, ${setting}: ${[...v2v[setting].entries()].map(([kind, values]) => `${kind} ${fmt(values.at(-1) as number)} ms`).join(', ')}; cache hits ${hits}`);
      } finally {
        await stopServer(server);
      }
    }
  }
  const row = (kind: string) => {
    const on = v2v.on.get(kind) ?? [];
    const off = v2v.off.get(kind) ?? [];
    return `| ${kind} | ${fmt(median(on))} ms | ${fmt(quantile(on, 0.95))} ms | ${fmt(median(off))} ms | ${fmt(quantile(off, 0.95))} ms |`;
  };
  return [
    `## Turn-taking (${new Date().toISOString().slice(0, 10)}, ${RUNS} runs, Flite-synthesised answers over realtime v1)`,
    '',
    '| Answer | Adaptive end of turn + prompt cache: median | p95 | Fixed 600 ms, no cache: median | p95 |',
    '|---|---|---|---|---|',
    ...ANSWERS.map((answer) => row(answer.kind)),
    '',
    `Cut-off turns (a date said with a 0.5 s pause mid-way, ended in the pause): ${cuts.on}/${RUNS} with the adaptive rule, ${cuts.off}/${RUNS} with the fixed pause.`,
    '',
    `TTS first audio of the scripted prompts (stored per reply: synthesis request → first audio), median: ${fmt(median(ttsFirst.on), 1)} ms with the prompt cache, ${fmt(median(ttsFirst.off), 1)} ms without.`,
  ].join('\n');
};

if (process.argv[1] === fileURLToPath(import.meta.url)) console.log(await turnTakingBenchmark());
