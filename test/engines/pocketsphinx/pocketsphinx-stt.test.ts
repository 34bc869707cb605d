import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { longestEventLoopGapDuring } from '../../helpers/event-loop.js';
import { EngineUnavailableError } from '../../../src/engines/engine-errors.js';
import { PocketSphinxStt } from '../../../src/engines/stt/pocketsphinx/pocketsphinx-stt.js';
import { wordErrorRate } from '../../../src/eval/word-error-rate.js';
import { recording, referenceTranscript, spoken } from '../../helpers/speech.js';

const MODEL_DIR = '/usr/share/pocketsphinx/model/en-us';

describe('PocketSphinx speech recognition', () => {
  let stt: PocketSphinxStt;
  beforeAll(async () => {
    stt = await PocketSphinxStt.create({ modelDir: MODEL_DIR });
  });
  afterAll(async () => {
    await stt.close();
  });

  it('recognises a real recording close to its reference', async () => {
    const transcript = await stt.transcribe(recording('goforward.wav'));
    expect(transcript.text).toBe(referenceTranscript('goforward.wav'));
    expect(transcript.segments.map((segment) => segment.text)).toEqual(['go', 'forward', 'ten', 'meters']);
  });

  it('streams partial hypotheses before the final transcript', async () => {
    const partials: string[] = [];
    const stream = stt.createStream({ onPartial: (text) => partials.push(text) });
    const audio = recording('1089-134686-0001.wav').samples;
    for (let offset = 0; offset < audio.length; offset += 1600) {
      stream.push(audio.subarray(offset, offset + 1600));
      await new Promise((resolve) => setTimeout(resolve, 25)); // 4× real time
    }
    const final = await stream.finish();
    expect(partials.length).toBeGreaterThan(2);
    expect(wordErrorRate(referenceTranscript('1089-134686-0001.wav'), final.text)).toBeLessThan(0.5);
    expect(stt.pool.busy).toBe(0);
  });

  it('recognises an expected answer exactly when given a grammar, whatever the decoder heard before', async () => {
    const date = spoken('march fifth nineteen eighty two');
    expect((await stt.transcribe(date, { hints: { expect: { type: 'date' } } })).text).toBe('march fifth nineteen eighty two');
    expect((await stt.transcribe(spoken('no i do not'), { hints: { expect: { type: 'yesno' } } })).text).toBe('no i do not');
    expect((await stt.transcribe(spoken('forty two'), { hints: { expect: { type: 'number' } } })).text).toBe('forty two');
    expect((await stt.transcribe(spoken('email'), { hints: { expect: { type: 'choice', options: ['Phone call', 'Email', 'Text message'] } } })).text).toBe('email');
    // The decoder returns to the open model after a grammar.
    expect((await stt.transcribe(recording('goforward.wav'))).text).toBe('go forward ten meters');
  });

  it('decodes concurrent streams in parallel, each on its own decoder', async () => {
    const files = ['goforward.wav', 'librivox-0880.wav', 'LJ002-0020.wav'];
    const pending = files.map((file) => stt.transcribe(recording(file)));
    expect(stt.pool.busy).toBe(files.length);
    const texts = (await Promise.all(pending)).map((transcript) => transcript.text);
    // Live normalisation adapts per decoder, so words may differ from a sequential run; accuracy may not.
    expect(wordErrorRate(files.map(referenceTranscript).join(' '), texts.join(' '))).toBeLessThan(0.5);
    expect(stt.pool.busy).toBe(0);
  });

  it('never holds more decoders than its bound: later utterances wait with their audio and come out right', async () => {
    // No spare decoder loading in the background: the queue's order is what is under test.
    const bounded = await PocketSphinxStt.create({ modelDir: MODEL_DIR, maxDecoders: 2, spareDecoders: 0 });
    try {
      const files = ['goforward.wav', 'librivox-0880.wav', 'LJ002-0020.wav', 'goforward.wav', '1089-134686-0001.wav'];
      let most = 0;
      const watch = setInterval(() => (most = Math.max(most, bounded.pool.busy + bounded.pool.idle)), 5);
      const pending = files.map((file) => bounded.transcribe(recording(file)));
      expect(bounded.pool).toMatchObject({ busy: 2, idle: 0, waiting: 3, max: 2 });
      const texts = (await Promise.all(pending)).map((transcript) => transcript.text);
      clearInterval(watch);
      expect(most).toBeLessThanOrEqual(2);
      expect(texts[0]).toBe('go forward ten meters');
      expect(texts[3]).toBe('go forward ten meters');
      expect(wordErrorRate(files.map(referenceTranscript).join(' '), texts.join(' '))).toBeLessThan(0.5);
      expect(bounded.pool).toMatchObject({ busy: 0, waiting: 0 });
    } finally {
      await bounded.close();
    }
  });

  it('a waiting stream that is cancelled leaves the queue and never takes a decoder', async () => {
    const bounded = await PocketSphinxStt.create({ modelDir: MODEL_DIR, maxDecoders: 1 });
    try {
      const first = bounded.createStream();
      const queued = bounded.createStream();
      const abandoned = bounded.createStream();
      expect(bounded.pool).toMatchObject({ busy: 1, idle: 0, waiting: 2, max: 1 });
      abandoned.push(recording('goforward.wav').samples);
      abandoned.cancel();
      const finishing = bounded.createStream();
      finishing.push(recording('goforward.wav').samples);
      const failed = finishing.finish();
      finishing.cancel();
      await expect(failed).rejects.toThrow(/cancelled/);
      expect(bounded.pool.waiting).toBe(1);
      first.push(recording('goforward.wav').samples);
      expect((await first.finish()).text).toBe('go forward ten meters');
      // The decoder went to the one stream still in line.
      queued.push(recording('goforward.wav').samples);
      expect((await queued.finish()).text).toBe('go forward ten meters');
      expect(bounded.pool).toMatchObject({ busy: 0, idle: 1, waiting: 0, max: 1 });
      expect(bounded.pool.processes).toHaveLength(1);
    } finally {
      await bounded.close();
    }
  });

  it('decodes off the event loop', async () => {
    const longestGap = await longestEventLoopGapDuring(() => stt.transcribe(recording('1089-134686-0001.wav')));
    expect(longestGap).toBeLessThan(100);
  });

  it('returns a cancelled stream’s decoder to the pool', async () => {
    const stream = stt.createStream();
    stream.push(recording('goforward.wav').samples);
    stream.cancel();
    await expect.poll(() => stt.pool.busy, { timeout: 10_000 }).toBe(0);
  });

  it('names the missing model file and the fix', async () => {
    const failure = await PocketSphinxStt.create({ modelDir: '/nowhere' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EngineUnavailableError);
    expect((failure as Error).message).toBe('PocketSphinx model file /nowhere/en-us is missing');
    expect((failure as EngineUnavailableError).fix).toMatch(/pocketsphinx-en-us/);
  });
});
