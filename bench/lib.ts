// Shared by every benchmark: one JSON line per result (with the machine it ran on), percentiles,
// medians over repetitions, and a closed-loop load generator.
import { availableParallelism, cpus } from 'node:os';
import { TEST_GATEWAY_SECRET } from '../tests/helpers/graphql.ts';

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
    // Direct calls to central or a node must act as the gateway; the gateway ignores the header.
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
