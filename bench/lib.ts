// Shared by every benchmark: one JSON line per result (with the machine it ran on), percentiles,
// medians over repetitions, and a closed-loop load generator.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import path from 'node:path';
import { ADMIN_PASSWORD } from '../tests/helpers/central.ts';
import { TEST_GATEWAY_SECRET } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { startProcess } from '../tests/helpers/processes.ts';

export interface BenchResult {
  readonly name: string;
  readonly parameters: Record<string, unknown>;
  readonly figures: Record<string, unknown>;
}

export function machine() {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    node: process.version,
  };
}

export function report(result: BenchResult): void {
  process.stdout.write(`${JSON.stringify({ ...result, machine: machine() })}\n`);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1);
  return sorted[Math.max(0, index)] as number;
}

export function median(values: readonly number[]): number {
  return percentile(
    [...values].sort((a, b) => a - b),
    50,
  );
}

export const round = (value: number, digits = 2) => Number(value.toFixed(digits));

export interface LoadFigures {
  readonly requests: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
}

/**
 * `concurrency` workers each run `once` back to back until `total` calls are done. Latency is per
 * call; throughput is calls over wall time.
 */
export async function closedLoop(
  once: () => Promise<void>,
  options: { concurrency: number; total: number },
): Promise<LoadFigures> {
  const latencies: number[] = [];
  let started = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (started < options.total) {
        started++;
        const t = performance.now();
        await once();
        latencies.push(performance.now() - t);
      }
    }),
  );
  const wall = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return {
    requests: latencies.length,
    rps: round((latencies.length / wall) * 1000, 1),
    p50Ms: round(percentile(latencies, 50)),
    p99Ms: round(percentile(latencies, 99)),
  };
}

/** POSTs a GraphQL request and fails loudly on errors: a benchmark of failures measures nothing. */
export async function post(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  headers: Record<string, string> = {},
): Promise<Record<string, unknown>> {
  const response = await fetch(url, {
    method: 'POST',
    // Direct calls to central must act as the gateway (nodes ignore the secret: they take an
    // assertion, which callers pass in `headers`); the gateway ignores the header.
    headers: {
      'content-type': 'application/json',
      'x-gateway-secret': TEST_GATEWAY_SECRET,
      ...headers,
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
  if (body.errors?.length || !body.data)
    throw new Error(`request to ${url} failed: ${JSON.stringify(body.errors)}`);
  return body.data;
}

/** `--name=value` from the command line as a number, for runs of one benchmark by hand. */
export function numberArg(name: string): number | undefined {
  const prefix = `--${name}=`;
  const raw = process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
  if (raw === undefined) return undefined;
  const value = Number(raw);
  if (!Number.isFinite(value)) throw new Error(`--${name} must be a number, got "${raw}"`);
  return value;
}

/** Resident set of a process in MiB (VmRSS of /proc/<pid>/status), or NaN once it is gone. */
export function rssMiB(pid: number): number {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = Number(/^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1]);
    return round(kib / 1024, 1);
  } catch {
    return Number.NaN;
  }
}

/** One RSS reading (MiB) per named process. */
export type RssSample = Record<string, number>;

/** Samples every `everyMs` until `until` settles, or `count` times without it. */
export async function sampleRss(
  pids: Readonly<Record<string, number>>,
  options: { everyMs: number; count?: number; until?: Promise<unknown> },
): Promise<RssSample[]> {
  const taken: RssSample[] = [];
  let done = false;
  void options.until?.then(
    () => (done = true),
    () => (done = true),
  );
  while (options.until ? !done : taken.length < (options.count ?? 1)) {
    taken.push(Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, rssMiB(pid)])));
    await new Promise((resolve) => setTimeout(resolve, options.everyMs));
  }
  return taken;
}

/** `f` over each process's readings, e.g. `perProcess(samples, median)`. */
export function perProcess(
  samples: readonly RssSample[],
  f: (values: number[]) => number,
): RssSample {
  const names = Object.keys(samples[0] ?? {});
  return Object.fromEntries(
    names.map((name) => [name, f(samples.map((s) => s[name] ?? Number.NaN))]),
  );
}

let centralTemplate: Promise<string> | undefined;

/**
 * A stopped central's data dir (admin bootstrapped, nothing else), made once per process and
 * removed at exit: clusters copy it (`Cluster.start(..., { centralDataFrom })`) instead of paying
 * a first start of embedded PGlite (initdb and migrations, 5-15 s here) each time.
 */
export function centralDataTemplate(): Promise<string> {
  centralTemplate ??= (async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-bench-central-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const leftovers = new Leftovers();
    try {
      const central = startProcess(
        leftovers,
        'central',
        ['central', '--port', '0', '--data-dir', dir],
        {
          SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
          SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET,
        },
      );
      await central.waitForLine(/ready at /);
      await central.kill('SIGTERM');
    } finally {
      await leftovers.dispose();
    }
    return dir;
  })();
  return centralTemplate;
}
