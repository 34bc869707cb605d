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
    expect(stt.decoders.busy).toBe(0);
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
    expect(stt.decoders.busy).toBe(files.length);
    const texts = (await Promise.all(pending)).map((transcript) => transcript.text);
    // Live normalisation adapts per decoder, so words may differ from a sequential run; accuracy may not.
    expect(wordErrorRate(files.map(referenceTranscript).join(' '), texts.join(' '))).toBeLessThan(0.5);
    expect(stt.decoders.busy).toBe(0);
  });

  it('decodes off the event loop', async () => {
    const longestGap = await longestEventLoopGapDuring(() => stt.transcribe(recording('1089-134686-0001.wav')));
    expect(longestGap).toBeLessThan(100);
  });

  it('returns a cancelled stream’s decoder to the pool', async () => {
    const stream = stt.createStream();
    stream.push(recording('goforward.wav').samples);
    stream.cancel();
    await expect.poll(() => stt.decoders.busy, { timeout: 10_000 }).toBe(0);
  });

  it('names the missing model file and the fix', async () => {
    const failure = await PocketSphinxStt.create({ modelDir: '/nowhere' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(EngineUnavailableError);
    expect((failure as Error).message).toBe('PocketSphinx model file /nowhere/en-us is missing');
    expect((failure as EngineUnavailableError).fix).toMatch(/pocketsphinx-en-us/);
  });
});
