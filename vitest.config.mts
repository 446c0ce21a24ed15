import { defineConfig } from 'vitest/config';

// Kernel and pmcd tests share one machine (one pmcd, one set of tracepoints, one CPU pair):
// run test files one after another so their workloads and measurements do not mix.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds what changed and installs this build into pmcd unless it is already the one running.
    globalSetup: ['test/global-setup.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
