import { configDefaults, defineConfig } from 'vitest/config';

// Five tiers run by one command: unit tests (no root) in parallel; fuzz tests; BPF program
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
        // Generated input (fast-check, fixed seed): the CNI plugin's env and stdin,
        // manifests, the agent API in-process; as root also bin/strait itself and
        // random frames through BPF_PROG_TEST_RUN. About two minutes on two cores.
        test: {
          name: 'fuzz',
          include: ['test/fuzz/**/*.test.ts'],
          fileParallelism: false,
          testTimeout: 120_000,
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
        // The CNI contract again, every call through a real strait-agent
        // (test/helpers/cni-agents.ts): bin/strait forwards what it ran standalone above.
        // The files whose pods come from bin/strait and whose assertions are about what
        // it made or left; the datapath-only and own-agent files run once, above.
        test: {
          name: 'netns-agent',
          include: [
            'test/netns/cni-*.test.ts',
            'test/fuzz/cni-binary.test.ts',
            'test/netns/{fastpath,doctor,service,drill-churn,hostile-link}.test.ts',
          ],
          // These start, kill and restart agents of their own in either project.
          exclude: [...configDefaults.exclude, 'test/netns/cni-agent-kill.test.ts', 'test/netns/cni-del-queue.test.ts'],
          env: { STRAIT_TEST_CNI_MODE: 'agent' },
          fileParallelism: false,
          testTimeout: 120_000,
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
