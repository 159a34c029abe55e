// Command-line options with environment equivalents, described once: the same table parses
// argv, prints `--help`, and documents the README's configuration section. Invalid values stop
// the process with a one-line reason (ConfigError), never a stack trace.
import { parseArgs } from 'node:util';

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export interface OptionSpec<T> {
  /** Long flag name without dashes, e.g. `port`. */
  readonly flag: string;
  /** Environment variable that sets the same option. */
  readonly env?: string;
  readonly description: string;
  /** Shown in `--help`; the value used when neither flag nor env is given. */
  readonly default?: T;
  /** Turns the raw text into a value; throws ConfigError with the reason. */
  readonly parse: (raw: string, name: string) => T;
  /** A flag without a value (`--verbose`). */
  readonly boolean?: boolean;
  readonly required?: boolean;
}

export type OptionSpecs = Record<string, OptionSpec<unknown>>;

export type ConfigOf<S extends OptionSpecs> = {
  [K in keyof S]: S[K] extends OptionSpec<infer T>
    ? S[K]['required'] extends true
      ? T
      : S[K]['default'] extends undefined
        ? T | undefined
        : T
    : never;
};

export function option<T>(spec: OptionSpec<T>): OptionSpec<T> {
  return spec;
}

export function parseConfig<S extends OptionSpecs>(
  specs: S,
  argv: readonly string[],
  env: NodeJS.ProcessEnv,
): ConfigOf<S> {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: false,
      options: Object.fromEntries(
        Object.values(specs).map(
          (s) => [s.flag, { type: s.boolean ? 'boolean' : 'string' }] as const,
        ),
      ),
    }));
  } catch (error) {
    throw new ConfigError((error as Error).message.split('\n')[0] ?? 'invalid arguments');
  }
  const result: Record<string, unknown> = {};
  for (const [key, spec] of Object.entries(specs)) {
    const fromFlag = values[spec.flag];
    const fromEnv = spec.env === undefined ? undefined : env[spec.env];
    const raw = fromFlag ?? (fromEnv === '' ? undefined : fromEnv);
    const name = fromFlag !== undefined ? `--${spec.flag}` : (spec.env ?? `--${spec.flag}`);
    if (raw === undefined) {
      if (spec.required)
        throw new ConfigError(`missing --${spec.flag}${spec.env ? ` (or ${spec.env})` : ''}`);
      result[key] = spec.default;
    } else {
      result[key] = spec.parse(typeof raw === 'boolean' ? 'true' : raw, name);
    }
  }
  return result as ConfigOf<S>;
}

export function helpText(command: string, summary: string, specs: OptionSpecs): string {
  const left = (s: OptionSpec<unknown>) => `  --${s.flag}${s.boolean ? '' : ' VALUE'}`;
  const width = Math.max(10, ...Object.values(specs).map((s) => left(s).length)) + 2;
  // `--help` is printed last by this function, whichever spec table it comes from.
  const rows = Object.values(specs)
    .filter((s) => s.flag !== 'help')
    .map((s) => {
      const extra = [
        s.env ? `env ${s.env}` : undefined,
        s.required
          ? 'required'
          : s.default !== undefined
            ? `default ${JSON.stringify(s.default)}`
            : undefined,
      ].filter(Boolean);
      return `${left(s).padEnd(width)}${s.description}${extra.length ? ` (${extra.join('; ')})` : ''}`;
    });
  return `Usage: switchboard ${command} [options]\n\n${summary}\n\nOptions:\n${rows.join('\n')}\n${'  --help'.padEnd(width)}Show this help\n`;
}

// Parsers shared by every component.
export const parsers = {
  port: (raw: string, name: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n > 65535)
      throw new ConfigError(`${name} must be a port number 0-65535, got "${raw}"`);
    return n;
  },
  positiveInt: (raw: string, name: string): number => {
    const n = Number(raw);
    if (!/^\d+$/.test(raw) || n < 1 || !Number.isSafeInteger(n))
      throw new ConfigError(`${name} must be a positive integer, got "${raw}"`);
    return n;
  },
  string: (raw: string, name: string): string => {
    if (raw.trim() === '') throw new ConfigError(`${name} must not be empty`);
    return raw;
  },
  url: (raw: string, name: string): string => {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new ConfigError(`${name} must be a URL, got "${raw}"`);
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      throw new ConfigError(`${name} must be an http(s) URL, got "${raw}"`);
    return raw.replace(/\/+$/, '');
  },
  postgresUrl: (raw: string, name: string): string => {
    if (!/^postgres(ql)?:\/\//.test(raw))
      throw new ConfigError(`${name} must start with postgres://`);
    return raw;
  },
  secret: (raw: string, name: string): string => {
    if (raw.length < 16) throw new ConfigError(`${name} must be at least 16 characters`);
    return raw;
  },
  boolean: (raw: string, name: string): boolean => {
    if (['true', '1', 'yes'].includes(raw)) return true;
    if (['false', '0', 'no'].includes(raw)) return false;
    throw new ConfigError(`${name} must be true or false, got "${raw}"`);
  },
};

/** Options every command shares, described once. */
export const sharedOptions = {
  help: option({
    flag: 'help',
    description: 'Show this help',
    default: false,
    boolean: true,
    parse: parsers.boolean,
  }),
  maxBodyBytes: option({
    flag: 'max-body-bytes',
    env: 'SWITCHBOARD_MAX_BODY_BYTES',
    description: 'Largest accepted request body',
    default: 1_048_576,
    parse: parsers.positiveInt,
  }),
  maxWsPayloadBytes: option({
    flag: 'max-ws-payload-bytes',
    env: 'SWITCHBOARD_MAX_WS_PAYLOAD_BYTES',
    description: 'Largest accepted WebSocket message',
    default: 1_048_576 as number,
    parse: parsers.positiveInt,
  }),
  wsConnectionInitTimeoutMs: option({
    flag: 'ws-init-timeout-ms',
    env: 'SWITCHBOARD_WS_INIT_TIMEOUT_MS',
    description: 'Time a WebSocket client has to send connection_init',
    default: 10_000 as number,
    parse: parsers.positiveInt,
  }),
};
