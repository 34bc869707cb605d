import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RealtimeClient } from '../../src/client/realtime-client.js';
import { startListeningServer } from '../helpers/harness.js';
import { recording } from '../helpers/speech.js';
import { useTempDirs } from '../helpers/temp-dir.js';

type Server = Awaited<ReturnType<typeof startListeningServer>>;

/** One sample of the Prometheus text format: `name{labels} value`. */
const sample = (text: string, name: string, labels: Record<string, string> = {}): number | undefined => {
  const wanted = Object.entries(labels).map(([key, value]) => `${key}="${value}"`);
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',').filter(Boolean);
    if (wanted.every((label) => present.includes(label))) return Number(match[3]);
  }
  return undefined;
};

describe('Prometheus metrics at /metrics', () => {
  const tempDir = useTempDirs();
  let server: Server;
  beforeAll(async () => {
    server = await startListeningServer(tempDir(), { HARKEN_RATE_LIMIT_REQUESTS: '3', HARKEN_RATE_LIMIT_WINDOW_SECONDS: '60' });
  });
  afterAll(async () => {
    await server?.harken.close();
  });

  const scrape = async (key: string) => {
    const response = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
    return { status: response.status, type: response.headers.get('content-type'), text: await response.text() };
  };

  it('counts sessions, replies, engine calls, refused credentials and limits, and the process, for a key of scope metrics only', async () => {
    // Its own allowance: this server's default (3 a minute) is for the limit test below.
    const metricsKey = await server.createKey(['metrics'], { rateLimit: 1_000 });
    const before = await scrape(metricsKey);
    expect(before.status).toBe(200);
    expect(before.type).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(sample(before.text, 'harken_sessions_active', { channel: 'realtime' })).toBe(0);
    expect(sample(before.text, 'harken_sessions_active', { channel: 'phone' })).toBe(0);

    // A realtime session with a typed turn: synthesis runs, a reply finishes.
    const caller = await server.createKey(['realtime']);
    const client = await RealtimeClient.connect({ url: server.wsUrl, credentials: caller, sampleRate: 16_000, agent: 'echo' });
    await client.waitFor('audio_end');
    // A client streams its microphone all along; the session moves on with it.
    await client.streamSilence(1_000);
    const during = await scrape(metricsKey);
    expect(sample(during.text, 'harken_sessions_active', { channel: 'realtime' })).toBe(1);
    expect(sample(during.text, 'harken_sessions_started_total', { channel: 'realtime' })).toBe(1);
    expect(sample(during.text, 'harken_engine_calls_total', { stage: 'tts.synthesize', outcome: 'ok' })).toBeGreaterThan(0);
    expect(sample(during.text, 'harken_engine_call_duration_seconds_count', { stage: 'tts.synthesize' })).toBeGreaterThan(0);
    expect(sample(during.text, 'harken_engine_call_duration_seconds_bucket', { stage: 'tts.synthesize', le: '+Inf' })).toBeGreaterThan(0);
    // The greeting is stored as done once its last audio has played out.
    await expect.poll(async () => sample((await scrape(metricsKey)).text, 'harken_replies_total', { status: 'completed' }), { timeout: 10_000 }).toBe(1);
    // A spoken turn: each of its stages lands in the per-stage histogram.
    const mark = client.events.length;
    await client.streamAudio(recording('goforward.wav').samples);
    await client.streamSilence(1_500);
    await client.waitFor('audio_end', { after: mark, timeoutMs: 15_000 });
    await client.streamSilence(1_000);
    await expect.poll(async () => sample((await scrape(metricsKey)).text, 'harken_turn_stage_seconds_count', { stage: 'voice_to_voice' }), { timeout: 10_000 }).toBe(1);
    const stages = (await scrape(metricsKey)).text;
    for (const stage of ['end_of_turn', 'stt_final', 'tts_first_audio']) expect(sample(stages, 'harken_turn_stage_seconds_count', { stage })).toBe(1);
    // The echo agent has no LLM: no first-token time.
    expect(sample(stages, 'harken_turn_stage_seconds_count', { stage: 'llm_first_token' })).toBeUndefined();
    const endOfTurn = sample(stages, 'harken_turn_stage_seconds_sum', { stage: 'end_of_turn' })!;
    expect(endOfTurn).toBeCloseTo(server.config.voice.endOfTurnSilenceMs / 1000, 3);
    // Voice to voice contains the end-of-turn wait and the transcript.
    expect(sample(stages, 'harken_turn_stage_seconds_sum', { stage: 'voice_to_voice' })).toBeGreaterThan(endOfTurn + sample(stages, 'harken_turn_stage_seconds_sum', { stage: 'stt_final' })! - 0.001);
    await client.close();
    await expect.poll(async () => sample((await scrape(metricsKey)).text, 'harken_sessions_active', { channel: 'realtime' })).toBe(0);

    // Refused credentials by reason, and requests over the caller's limit (3 a minute here).
    await fetch(`${server.url}/v1/agents`, { headers: { authorization: 'Bearer hk_zzzzzzzzzzzz_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' } });
    await fetch(`${server.url}/v1/agents`, { headers: { authorization: 'Bearer nonsense' } });
    const limited = await server.createKey(['conversations']);
    const statuses: number[] = [];
    for (let index = 0; index < 5; index += 1) statuses.push((await fetch(`${server.url}/v1/agents`, { headers: { authorization: `Bearer ${limited}` } })).status);
    expect(statuses).toEqual([200, 200, 200, 429, 429]);
    const after = await scrape(metricsKey);
    expect(sample(after.text, 'harken_auth_failures_total', { reason: 'invalid_credentials' })).toBe(1);
    expect(sample(after.text, 'harken_auth_failures_total', { reason: 'malformed_credentials' })).toBe(1);
    expect(sample(after.text, 'harken_limit_refusals_total', { policy: 'caller' })).toBe(2);
    expect(sample(after.text, 'harken_engine_healthy', { role: 'stt', engine: 'pocketsphinx' })).toBe(1);
    expect(sample(after.text, 'harken_engine_healthy', { role: 'tts', engine: 'flite' })).toBe(1);
    // The process: memory and event-loop lag from prom-client's default collectors.
    expect(sample(after.text, 'harken_process_resident_memory_bytes')).toBeGreaterThan(10_000_000);
    expect(sample(after.text, 'harken_nodejs_eventloop_lag_seconds')).toBeGreaterThanOrEqual(0);

    // Other scopes may not read it.
    expect((await scrape(limited)).status).toBe(429);
    expect((await scrape(await server.createKey(['conversations']))).status).toBe(403);
  }, 60_000);
});
