/**
 * `npm run bench`: every section in one run, printed as the Markdown that goes into
 * BENCHMARKS.md. Sections alone: `npm run bench:voice`, `npm run bench:turns`, `npm run bench:phone`, `npm run bench:memory`, `npm run bench:access`.
 */
import { accessBenchmark } from './access-bench.js';
import { sessionMemoryBenchmark, sessionMemoryMarkdown } from './session-memory.js';
import { phoneBenchmark } from './phone-bench.js';
import { voiceBenchmark } from './voice-bench.js';
import { turnTakingBenchmark } from './turn-taking-bench.js';

// Memory first: measured after the access bench's load, a run's recognisers once never started (2026-12-02).
console.error('memory per session…');
const memory = sessionMemoryMarkdown(await sessionMemoryBenchmark());
console.error('access layer…');
const access = await accessBenchmark();
const voice = await voiceBenchmark();
console.error('phone calls…');
const phone = await phoneBenchmark();
console.error('turn-taking…');
const turns = await turnTakingBenchmark();
console.log(`${voice}\n\n${turns}\n\n${phone}\n\n${memory}\n\n${access}`);
