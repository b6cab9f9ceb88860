import { defineConfig } from 'vitest/config';

// Two tiers run by one command: unit tests (no root) in parallel, and netns
// integration tests (root, real kernel) one file at a time because they share the
// host's network namespace.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'netns',
          include: ['test/netns/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
