import { defineConfig } from 'vitest/config';

// Kernel and pmcd tests share one machine (one pmcd, one set of tracepoints, one CPU pair):
// run test files one after another so their workloads and measurements do not mix.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    reporters: ['default'],
  },
});
