import { createRequire } from 'node:module';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships both index.js and index.mjs. Node (and so every dependency vitest leaves
    // external, like graphql-ws) loads index.js; without this alias vite would hand our own code
    // index.mjs, and graphql refuses a schema built by "another module or realm".
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    // Compiles dist/ (and the web bundle) when a source is newer: test children run compiled code.
    globalSetup: ['tests/setup/build.ts'],
    // Fast in-process tests and multi-process cluster tests (`*.e2e.test.ts`) run as separate
    // projects: `npm run test:unit` stays quick while `npm test` runs both.
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/**/*.e2e.test.ts', 'dist/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/**/*.e2e.test.ts'],
          exclude: ['dist/**'],
          // Each file runs a whole cluster of processes: two at once on 2 cores starve heartbeats
          // (nodes flap OFFLINE) and turn load into failures that say nothing about the code.
          fileParallelism: false,
        },
      },
    ],
    setupFiles: ['tests/helpers/errorCodeCheck.ts'],
    // Servers, SQLite files and PostgreSQL clusters are real: give them room on a 2-core machine.
    pool: 'forks',
    maxWorkers: 2,
    // Generous: a hung test still fails, but a loaded 2-core machine is not mistaken for a bug.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
