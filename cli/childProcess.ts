// One child process of the demo: its log lines are passed through as they come (a component's
// already carry their `[component]` prefix) and can be waited on, e.g. "ready at <url>".
import { spawn, type ChildProcess } from 'node:child_process';
import { packagePath } from '../lib/packageRoot.ts';

const BIN = packagePath('bin', 'switchboard.js');

export type ExitReason = number | NodeJS.Signals | null;

export interface Child {
  readonly name: string;
  /** The operating system's process id (undefined only if the process could not be started). */
  readonly pid: number | undefined;
  /** Resolves with the first match of `pattern` among the child's lines; rejects if it exits first. */
  waitForLine(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves once the child has exited: its exit code, or the signal that ended it. */
  readonly exited: Promise<ExitReason>;
  /** SIGTERM, then SIGKILL after `graceMs` if it is still running. */
  stop(graceMs?: number): Promise<ExitReason>;
}

/** `switchboard <args>` as a child. */
export function spawnComponent(
  name: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  write: (line: string) => void,
  /** Another copy of the command, e.g. an unpacked release (scripts/checkRelease.ts). */
  bin: string = BIN,
): Child {
  return spawnChild(name, process.execPath, [bin, ...args], env, write);
}

export function spawnChild(
  name: string,
  command: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
  write: (line: string) => void,
): Child {
  const child: ChildProcess = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group: Ctrl-C in a terminal reaches only the demo, which then stops the
    // children in order (gateway first, central last) instead of all of them racing at once.
    detached: true,
  });
  const lines: string[] = [];
  const listeners = new Set<() => void>();
  let done = false;
  const onData = (() => {
    let partial = '';
    return (chunk: Buffer) => {
      partial += chunk.toString('utf8');
      const parts = partial.split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts) {
        lines.push(line);
        write(line);
      }
      // Only recent lines matter to a waiter; keep memory flat in a demo that runs for days.
      if (lines.length > 200) lines.splice(0, lines.length - 200);
      for (const listener of listeners) listener();
    };
  })();
  child.stdout?.on('data', onData);
  child.stderr?.on('data', onData);
  const exited = new Promise<ExitReason>((resolve) => {
    const finish = (reason: ExitReason) => {
      done = true;
      resolve(reason);
      for (const listener of listeners) listener();
    };
    child.once('exit', (code, signal) => finish(code ?? signal));
    // A process that could not be started emits 'error' and never 'exit'.
    child.once('error', (error) => {
      if (child.pid !== undefined) return;
      write(`[demo] error: could not start ${name}: ${error.message}`);
      finish(null);
    });
  });

  return {
    name,
    pid: child.pid,
    exited,
    waitForLine(pattern) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const match = lines.map((line) => line.match(pattern)).find((m) => m !== null);
          if (match) {
            listeners.delete(check);
            resolve(match);
          } else if (done) {
            listeners.delete(check);
            reject(new Error(`${name} exited before it was ready`));
          }
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 15_000) {
      if (done || child.exitCode !== null || child.signalCode !== null) return exited;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
  };
}
