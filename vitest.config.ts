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
    // compiled code; one PostgreSQL cluster for the whole run, a database per file in it, and
    // central's database migrated once in it, which tests' centrals copy; and central's PGlite
    // database migrated, for those that ask for PGlite (kept between runs until its migrations or
    // dependencies change).
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
          // Files follow each other in the same worker process instead of a fresh one each: a file
          // no longer pays for importing Apollo, graphql and drizzle again, nor for PGlite's first
          // instance in a process (its WebAssembly and file system bundle). Safe because no file
          // mocks modules, fakes timers, or changes process.env or other process-wide state, and
          // each closes what it started (Leftovers).
          isolate: false,
        },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['tests/**/*.e2e.test.ts'],
          exclude: ['tests/**/*.slow.test.ts', 'dist/**'],
          // Several files at once (maxWorkers, below), like unit files, in the same group: a
          // cluster file mostly waits on its processes' timers, and one at a time (vitest runs a
          // project with
          // `fileParallelism: false` in a group of its own, after the others) left a core idle
          // for six minutes. vitest's default order runs this project's files first ("e2e" sorts
          // before "unit"), longest first from its cache, and the short unit files fill the end.
          // Earlier tries failed on contention, on causes since fixed in the tests (expect.poll's
          // 1 s default deadline, the seeds' 600 ms OFFLINE, a replica left empty beside a hedged
          // read, a late "no central" notice from the gateway's link, sync.e2e's kill -9 case
          // waiting for changes a scheduled session applied before the kill: reported from the
          // node's session outbox at its next start now, #18).
          //
          // And in the same worker processes one after the other, as unit files: a fresh worker
          // per file was about 1 CPU-s each (a process start, importing vitest, our helpers,
          // graphql-ws, better-sqlite3, playwright...) for nothing the file looks at. Measured on
          // 7 of these files run in one worker: workers' CPU 13.9 -> 6.8 s. Safe for the same
          // reasons as above: a cluster file's processes, servers and browsers are its
          // Leftovers, stopped in its afterAll. (clients.e2e gives Node 20 the global WebSocket
          // Node 22 has; every other client here is handed `ws` explicitly.)
          isolate: false,
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
    // expect.poll gives up after 1 s by default: shorter than a sync session or a routing change
    // of real processes takes on a loaded 2-core machine. A poll that holds returns at once, so
    // this costs a passing test nothing; one that never holds still fails, after 30 s.
    expect: { poll: { timeout: 30_000, interval: 50 } },
    // Servers, SQLite files and PostgreSQL clusters are real: give them room on a 2-core machine.
    pool: 'forks',
    // Three files at once on 2 cores: a file spends much of its time waiting on its processes'
    // timers, a cluster's start or a browser. Once the nodes' calls stopped going through fetch
    // (12-03 night, about 18 CPU-s less per run), three took `npm test` from 3:59 (two, twice) to
    // 3:22-3:46 wall; four took 3:43 (README, Tests).
    maxWorkers: 3,
    // Generous: a hung test still fails, but a loaded 2-core machine is not mistaken for a bug.
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 30_000,
  },
});
