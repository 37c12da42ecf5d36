import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    // Integration tests each start real servers with worker pools; on two
    // cores, running many files at once only adds noise and timeouts.
    maxWorkers: 2,
  },
});
