import { defineConfig } from 'vitest/config';

// Four tiers run by one command: unit tests (no root) in parallel; BPF program
// tests through BPF_PROG_TEST_RUN, netns integration tests (root, real kernel) and
// e2e tests where real container runtimes call the plugin (root, containerd and
// podman) one file at a time because they share the host's namespace and pin dirs.
export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'bpf',
          include: ['test/bpf/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'netns',
          include: ['test/netns/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
