import { defineConfig } from 'vitest/config';

// Two projects: host tests run in parallel; lab tests (*.lab.test.ts) each boot a User-Mode
// Linux kernel and carry timing-sensitive checks (zero loss under rekey, life-time expiry), so
// they run one file at a time to keep the 2 cores from being oversubscribed.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'host',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.lab.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 300_000,
          pool: 'forks',
        },
      },
      {
        test: {
          name: 'lab',
          include: ['test/**/*.lab.test.ts'],
          testTimeout: 300_000,
          hookTimeout: 600_000,
          pool: 'forks',
          fileParallelism: false,
        },
      },
    ],
  },
});
