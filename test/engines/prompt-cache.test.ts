import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryEngineMetrics } from '../../src/engines/engine-metrics.js';
import { FliteTts } from '../../src/engines/tts/flite/flite-tts.js';
import { PromptAudioCache } from '../../src/engines/tts/prompt-cache.js';
import { startTestServer, voiceTestEnv } from '../helpers/harness.js';
import { useTempDirs } from '../helpers/temp-dir.js';

const calls = (metrics: InMemoryEngineMetrics, stage: string): number => metrics.view()[stage]?.calls ?? 0;

describe('the prompt audio cache', () => {
  let flite: FliteTts;
  beforeAll(async () => {
    flite = await FliteTts.create();
  });
  afterAll(async () => {
    await flite.close();
  });

  it('serves a registered prompt from memory after its first synthesis, the same audio, and keeps nothing else', async () => {
    const metrics = new InMemoryEngineMetrics();
    const cache = new PromptAudioCache(flite, { maxBytes: 8 * 1024 * 1024 }, metrics);
    cache.register(['Do you smoke?']);
    const raw = await flite.synthesize('Do you smoke?');

    const first = await cache.synthesize('Do you smoke?');
    expect(calls(metrics, 'tts.cache_miss')).toBe(1);
    expect(Buffer.from(first.samples.buffer).equals(Buffer.from(raw.samples.buffer))).toBe(true);

    const started = performance.now();
    const second = await cache.synthesize('Do you smoke?');
    expect(performance.now() - started).toBeLessThan(5);
    expect(calls(metrics, 'tts.cache_hit')).toBe(1);
    expect(Buffer.from(second.samples.buffer).equals(Buffer.from(raw.samples.buffer))).toBe(true);
    // A consumer changing its copy does not change what the next caller hears.
    second.samples.fill(0);
    expect(Buffer.from((await cache.synthesize('Do you smoke?')).samples.buffer).equals(Buffer.from(raw.samples.buffer))).toBe(true);
    // Another voice is another entry.
    await cache.synthesize('Do you smoke?', { voice: 'rms' });
    expect(cache.size.entries).toBe(2);

    // Words that are not a prompt (a caller's name repeated by an LLM) are synthesised and not kept.
    const before = cache.size;
    await cache.synthesize('Nice to meet you, Jane Doe.');
    expect(cache.size).toEqual(before);
    expect(calls(metrics, 'tts.cache_miss')).toBe(2);
  });

  it('stays within its memory: the least recently used prompt goes first', async () => {
    const one = await flite.synthesize('First prompt.');
    const metrics = new InMemoryEngineMetrics();
    // Room for about two sentences of this length.
    const cache = new PromptAudioCache(flite, { maxBytes: Math.round(one.samples.byteLength * 2.5) }, metrics);
    await cache.warm(['First prompt.', 'Second prompt.']);
    await cache.synthesize('First prompt.'); // now the most recently used
    await cache.warm(['Third prompt.']);
    expect(cache.size.entries).toBe(2);
    expect(cache.size.bytes).toBeLessThanOrEqual(Math.round(one.samples.byteLength * 2.5));
    const hits = calls(metrics, 'tts.cache_hit');
    await cache.synthesize('First prompt.');
    expect(calls(metrics, 'tts.cache_hit')).toBe(hits + 1);
    await cache.synthesize('Second prompt.');
    expect(calls(metrics, 'tts.cache_hit')).toBe(hits + 1);
  });

});

describe('the prompt cache in a running server', () => {
  const tempDir = useTempDirs();

  it('synthesises the intake flow’s questions at start; speaking one then costs no synthesis call', async () => {
    const server = await startTestServer(tempDir(), { ...voiceTestEnv(), HARKEN_TTS_PROMPT_WARMUP: 'true' });
    try {
      const metrics = server.harken.voice!.engines.metrics;
      await expect.poll(() => server.harken.voice!.engines.promptCache?.size.entries ?? 0, { timeout: 30_000 }).toBeGreaterThan(5);
      await expect.poll(() => server.logs.lines.some((line) => line.includes('prompt audio cached')), { timeout: 30_000 }).toBe(true);
      const synthesised = calls(metrics, 'tts.synthesize');
      const response = await server.inject({ method: 'POST', url: '/v1/conversations', payload: { agent: 'intake' } });
      const greeting = response.json().reply.text as string;
      const audio = await server.inject({ method: 'POST', url: '/v1/synthesize', payload: { text: greeting.split(/(?<=[.?!])\s/)[0] } });
      expect(audio.statusCode).toBe(200);
      expect(calls(metrics, 'tts.synthesize')).toBe(synthesised);
      expect(calls(metrics, 'tts.cache_hit')).toBeGreaterThan(0);
    } finally {
      await server.harken.close();
    }
  }, 60_000);
});
