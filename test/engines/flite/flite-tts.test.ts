import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestEventLoopGapDuring } from '../../helpers/event-loop.js';
import { durationMs, levelDbfs } from '../../../src/audio/pcm.js';
import { decodeWav } from '../../../src/audio/wav.js';
import { FliteTts } from '../../../src/engines/tts/flite/flite-tts.js';

describe('Flite speech synthesis', () => {
  let tts: FliteTts;
  beforeAll(async () => {
    tts = await FliteTts.create();
  });
  afterAll(async () => {
    await tts.close();
  });

  it('speaks a sentence as 16 kHz audio identical to the flite program’s', async () => {
    const audio = await tts.synthesize('Hello, this is Harken.');
    expect(audio.sampleRate).toBe(16_000);
    expect(durationMs(audio)).toBeGreaterThan(800);
    expect(durationMs(audio)).toBeLessThan(3000);
    expect(levelDbfs(audio.samples)).toBeGreaterThan(-35);
    const dir = mkdtempSync(join(tmpdir(), 'flite-'));
    try {
      execFileSync('flite', ['-voice', 'slt', '-t', 'Hello, this is Harken.', '-o', join(dir, 'x.wav')]);
      expect(audio.samples).toEqual(decodeWav(readFileSync(join(dir, 'x.wav'))).samples);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('synthesises concurrently without mixing requests up', async () => {
    const [short, long] = await Promise.all([tts.synthesize('Yes.'), tts.synthesize('This sentence is a good deal longer than the other one.')]);
    expect(durationMs(long)).toBeGreaterThan(durationMs(short) * 2);
  });

  it('reports each voice’s real rate and strips control characters', async () => {
    expect((await tts.synthesize('Hello', { voice: 'kal' })).sampleRate).toBe(8000);
    expect((await tts.synthesize('\u0007\u001b\u200b\n')).samples.length).toBe(0);
  });

  it('refuses an unknown voice and an aborted request', async () => {
    await expect(tts.synthesize('hi', { voice: 'hal9000' })).rejects.toThrow('Flite has no voice "hal9000"; voices: slt, kal16, awb, rms, kal');
    const controller = new AbortController();
    controller.abort();
    await expect(tts.synthesize('hi', { signal: controller.signal })).rejects.toThrow(/abort/i);
  });

  it('does not block the event loop while speaking long text', async () => {
    const longestGap = await longestEventLoopGapDuring(() => tts.synthesize('The quick brown fox jumps over the lazy dog. '.repeat(20)));
    expect(longestGap).toBeLessThan(100);
  });
});
