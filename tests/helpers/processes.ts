// Real processes for cluster tests: `switchboard <command>` children whose log lines are kept,
// with a way to wait for a line (e.g. "ready at ...") instead of sleeping.
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Leftovers } from './leftovers.ts';

const BIN = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));

export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  readonly lines: string[];
  /** Resolves with the first line (already logged or future) that matches. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | NodeJS.Signals | null>;
  kill(signal?: NodeJS.Signals): Promise<number | NodeJS.Signals | null>;
}

/**
 * Extra Node options for every child, from SWITCHBOARD_TEST_NODE_ARGS (space-separated; `{name}`
 * becomes the process's name and a timestamp), e.g. for profiling a benchmark's processes:
 * `--cpu-prof --cpu-prof-dir=/tmp/prof --cpu-prof-name={name}.cpuprofile`. Flags like `--cpu-prof`
 * are refused in NODE_OPTIONS, hence this. Unset: none.
 */
function nodeArgs(name: string): string[] {
  const raw = process.env['SWITCHBOARD_TEST_NODE_ARGS'];
  if (!raw) return [];
  return raw
    .split(/\s+/)
    .filter((arg) => arg !== '')
    .map((arg) => arg.replaceAll('{name}', `${name}-${Date.now()}`));
}

/** Every child started here (or handed to `track`) that has not exited yet. */
const running = new Set<ChildProcess>();

/** Counts a child among the running ones until it exits (for `killRunning`). */
export function track<C extends ChildProcess>(child: C): C {
  running.add(child);
  child.once('exit', () => running.delete(child));
  return child;
}

/**
 * Signals every child still running, at once and synchronously: for a process interrupted by a
 * signal, whose Leftovers never get to run (e.g. `npm run bench` stopped with Ctrl-C).
 */
export function killRunning(signal: NodeJS.Signals = 'SIGKILL'): number {
  let killed = 0;
  for (const child of running) {
    if (child.exitCode === null && child.signalCode === null && child.kill(signal)) killed += 1;
  }
  return killed;
}

export function startProcess(
  leftovers: Leftovers,
  name: string,
  args: string[],
  env: Record<string, string> = {},
): Proc {
  const child = track(
    spawn(process.execPath, [...nodeArgs(name), BIN, ...args], {
      env: { ...process.env, SWITCHBOARD_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    }),
  );
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  let partial = '';
  const onData = (chunk: Buffer) => {
    partial += chunk.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      if (process.env['SWITCHBOARD_TEST_LOG']) process.stderr.write(`  <${name}> ${line}\n`);
    }
    for (const w of waiters) w();
  };
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<number | NodeJS.Signals | null>((resolve) =>
    child.once('exit', (code, signal) => {
      resolve(code ?? signal);
      for (const w of waiters) w();
    }),
  );
  const proc: Proc = {
    name,
    child,
    lines,
    exited,
    waitForLine(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(
            new Error(
              `${name}: no line matching ${pattern} within ${timeoutMs} ms; last lines:\n${lines.slice(-15).join('\n')}`,
            ),
          );
        }, timeoutMs);
        const check = () => {
          for (const line of lines) {
            const match = line.match(pattern);
            if (match) {
              clearTimeout(timer);
              waiters.delete(check);
              resolve(match);
              return;
            }
          }
          if (child.exitCode !== null || child.signalCode !== null) {
            clearTimeout(timer);
            waiters.delete(check);
            reject(
              new Error(
                `${name} exited (${child.exitCode ?? child.signalCode}) before ${pattern}:\n${lines.slice(-15).join('\n')}`,
              ),
            );
          }
        };
        waiters.add(check);
        check();
      });
    },
    async kill(signal = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return exited;
    },
  };
  leftovers.defer(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
  });
  return proc;
}
