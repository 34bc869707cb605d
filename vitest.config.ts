import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Tests spawn real servers; two cores keep a modest pool honest.
    pool: 'forks',
    maxWorkers: 2,
    // The browser tests run after the rest, not beside them: Chromium's processes take both cores,
    // and the server suite has timing assertions (event-loop gaps, real-time playback).
    projects: [
      { extends: true, test: { name: 'server', include: ['test/**/*.test.ts'], exclude: ['test/web/**'], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: 'browser', include: ['test/web/**/*.test.ts'], sequence: { groupOrder: 1 } } },
    ],
  },
});
