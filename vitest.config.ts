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
    // At once: dist/ (and the web bundle) compiled when a source is newer, since test children run
    // compiled code; one PostgreSQL cluster for the whole run, a database per file in it; and
    // central's PGlite database migrated once, which files copy instead of creating their own.
    globalSetup: ['tests/setup/global.ts'],
    // Fast in-process tests, multi-process cluster tests (`*.e2e.test.ts`) and the slow suites
    // (`*.slow.test.ts`: fault seeds, fuzz, the subscription load, several instances) are separate projects:
    // `npm test` runs unit and e2e, `npm run test:slow` the slow ones, `.ci/run` both.
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: ['tests/**/*.test.ts'],
          exclude: ['tests/**/*.e2e.test.ts', 'tests/**/*.slow.test.ts', 'dist/**'],
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/**/*.e2e.test.ts'],
          exclude: ['tests/**/*.slow.test.ts', 'dist/**'],
          // One at a time. Two at once (in the unit pool) ran the suite in 16-25 min where one at a
          // time took 42 min, on a machine loaded by others, but clients.e2e and
          // faults/regressions.e2e then failed on timing: to be tried again on a quiet machine
          // (test clusters already give load room: OFFLINE after 2 s, a 3 s node deadline).
          fileParallelism: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'slow',
          include: ['tests/**/*.slow.test.ts'],
          exclude: ['dist/**'],
          // Clusters under faults and load: one at a time, their timing is what they test.
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
