// `switchboard <command>`: each component is its own process in production; `demo` runs them all.
import { ConfigError } from '../lib/config.ts';

type Main = (argv: string[], env: NodeJS.ProcessEnv) => Promise<void>;

const commands: Record<string, { summary: string; load: () => Promise<Main> }> = {
  demo: {
    summary: 'Run a whole demo cluster (central, three nodes, gateway) on embedded defaults',
    load: async () => (await import('./demo.ts')).main,
  },
  central: {
    summary: 'Run the central subgraph (users, rooms, nodes, sync index)',
    load: async () => (await import('../subgraphs/central/index.ts')).main,
  },
  gateway: {
    summary: 'Run the gateway: one GraphQL endpoint over central and every node',
    load: async () => (await import('../gateway/index.ts')).main,
  },
  node: {
    summary: 'Run a chat node (messages in its own SQLite file)',
    load: async () => (await import('../subgraphs/node/index.ts')).main,
  },
};

function usage(): string {
  const rows = Object.entries(commands).map(([name, c]) => `  ${name.padEnd(10)} ${c.summary}`);
  return `Usage: switchboard <command> [options]\n\nCommands:\n${rows.join('\n')}\n\nRun "switchboard <command> --help" for a command's options.\n`;
}

export async function run(argv: string[]): Promise<void> {
  const [name, ...rest] = argv;
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(usage());
    return;
  }
  const command = commands[name];
  if (!command) {
    process.stderr.write(`switchboard: unknown command "${name}"\n\n${usage()}`);
    process.exitCode = 2;
    return;
  }
  try {
    const main = await command.load();
    await main(rest, process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`switchboard ${name}: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}
