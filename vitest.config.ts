import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 300_000,
    // Lab tests boot a UML kernel; keep them from competing for the 2 cores.
    fileParallelism: true,
    pool: 'forks',
  },
});
