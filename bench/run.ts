/**
 * `npm run bench`: every section in one run, printed as the Markdown that goes into
 * BENCHMARKS.md. Sections alone: `npm run bench:voice`, `npm run bench:phone`, `npm run bench:memory`, `npm run bench:access`.
 */
import { accessBenchmark } from './access-bench.js';
import { sessionMemoryBenchmark, sessionMemoryMarkdown } from './session-memory.js';
import { phoneBenchmark } from './phone-bench.js';
import { voiceBenchmark } from './voice-bench.js';

console.error('access layer…');
const access = await accessBenchmark();
console.error('memory per session…');
const memory = sessionMemoryMarkdown(await sessionMemoryBenchmark());
const voice = await voiceBenchmark();
console.error('phone calls…');
const phone = await phoneBenchmark();
console.log(`${voice}\n\n${phone}\n\n${memory}\n\n${access}`);
