import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    pool: 'forks',
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
    // The second reporter adds one line after the summary when DATABASE_URL is not set (the PostgreSQL tests did not run).
    reporters: ['default', './test/helpers/database-reporter.ts'],
  },
});
