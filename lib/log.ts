import { inspect } from 'node:util';

// One line per event, prefixed by the component, so the demo cluster's interleaved output of
// several processes stays readable (`[central] node node-a ONLINE`).
export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string, error?: unknown): void;
  child(component: string): Logger;
}

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  /** @default 'info', or SWITCHBOARD_LOG_LEVEL */
  readonly level?: LogLevel;
  /** Where lines go. @default process.stderr */
  readonly write?: (line: string) => void;
}

export function createLogger(component: string, options: LoggerOptions = {}): Logger {
  const envLevel = process.env['SWITCHBOARD_LOG_LEVEL'];
  const level: LogLevel =
    options.level ??
    (envLevel !== undefined && envLevel in order ? (envLevel as LogLevel) : 'info');
  const write = options.write ?? ((line: string) => process.stderr.write(line + '\n'));
  const emit = (at: LogLevel, message: string) => {
    if (order[at] >= order[level])
      write(`[${component}] ${at === 'info' ? '' : at + ': '}${message}`);
  };
  return {
    debug: (m) => emit('debug', m),
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m, error) =>
      emit(
        'error',
        error === undefined
          ? m
          : `${m}: ${error instanceof Error ? (error.stack ?? error.message) : inspect(error)}`,
      ),
    child: (sub) => createLogger(`${component}/${sub}`, { level, write }),
  };
}

/** For tests and embedding: a logger that drops everything. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
