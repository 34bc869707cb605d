// Word error rate of the embedded recogniser on a folder of recordings with reference transcripts.
// Usage: npm run wer [-- AUDIO_DIR]   (default ../shared/audio; reads AUDIO_DIR/transcripts.tsv: file<TAB>text)
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { durationMs } from '../dist/audio/pcm.js';
import { resample } from '../dist/audio/resample.js';
import { decodeWav } from '../dist/audio/wav.js';
import { PocketSphinxStt } from '../dist/engines/stt/pocketsphinx/pocketsphinx-stt.js';
import { werCounts } from '../dist/eval/word-error-rate.js';

const audioDir = resolve(process.argv[2] ?? new URL('../../shared/audio', import.meta.url).pathname);
const modelDir = process.env.HARKEN_STT_POCKETSPHINX_MODEL_DIR ?? '/usr/share/pocketsphinx/model/en-us';
const rows = readFileSync(join(audioDir, 'transcripts.tsv'), 'utf8').trim().split('\n').map((line) => line.split('\t'));
const stt = await PocketSphinxStt.create({ modelDir });
let errors = 0;
let words = 0;
let audioMs = 0;
let computeMs = 0;
console.log('file'.padEnd(28), 'WER'.padStart(7), '  hypothesis');
for (const [file, reference] of rows) {
  const audio = resample(decodeWav(readFileSync(join(audioDir, file))), stt.sampleRate);
  const started = performance.now();
  const { text } = await stt.transcribe(audio);
  computeMs += performance.now() - started;
  audioMs += durationMs(audio);
  const counts = werCounts(reference, text);
  errors += counts.errors;
  words += counts.words;
  console.log(file.padEnd(28), `${((counts.errors / counts.words) * 100).toFixed(1)}%`.padStart(7), ' ', text);
}
await stt.close();
console.log(`\nWER ${((errors / words) * 100).toFixed(1)}% (${errors} errors / ${words} words, ${rows.length} files); real-time factor ${(computeMs / audioMs).toFixed(2)}`);
