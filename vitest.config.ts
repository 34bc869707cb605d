import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 30_000,
    // Tests spawn real servers; two cores keep a modest pool honest.
    pool: 'forks',
    maxWorkers: 2,
  },
});
