import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/preflight.ts'],
    pool: 'forks',
    // Tests mostly wait on PostgreSQL and RabbitMQ; a few files at once keeps 2 cores busy.
    maxWorkers: 3,
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});
