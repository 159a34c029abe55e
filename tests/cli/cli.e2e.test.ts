// The `switchboard` command as users run it: real processes, real output.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { ADMIN_PASSWORD } from '../helpers/central.ts';
import { seedCentralDataDir } from '../helpers/centralData.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startProcess } from '../helpers/processes.ts';

const run = promisify(execFile);
const BIN = fileURLToPath(new URL('../../bin/switchboard.js', import.meta.url));
const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

async function switchboard(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('switchboard CLI', () => {
  it('lists its commands and documents every option of each', async () => {
    // At once: each is a process start, mostly module loading.
    const [top, central, gateway] = await Promise.all([
      switchboard(['--help']),
      switchboard(['central', '--help']),
      switchboard(['gateway', '--help']),
    ]);
    expect(top.code).toBe(0);
    for (const command of ['central', 'node', 'gateway']) expect(top.stdout).toContain(command);
    expect(central.code).toBe(0);
    for (const flag of [
      '--port',
      '--data-dir',
      '--database-url',
      '--heartbeat-interval-ms',
      'SWITCHBOARD_ADMIN_PASSWORD',
      'DATABASE_URL',
    ]) {
      expect(central.stdout).toContain(flag);
    }
    for (const flag of ['--central-url', '--gateway-secret', '--node-timeout-ms'])
      expect(gateway.stdout).toContain(flag);
  });

  it('stops on invalid configuration with a one-line reason, not a stack trace', async () => {
    const cases: Array<[string[], Record<string, string>, RegExp]> = [
      [['central', '--port', 'eighty'], {}, /--port must be a port number/],
      [['central', '--bogus'], {}, /Unknown option '--bogus'/],
      [['central'], { DATABASE_URL: 'mysql://x' }, /DATABASE_URL must start with postgres:\/\//],
      [
        ['central', '--heartbeat-interval-ms', '1500', '--offline-after-ms', '1000'],
        {},
        /--offline-after-ms \(1000\) must be longer than --heartbeat-interval-ms \(1500\)/,
      ],
      [['gateway'], {}, /missing --gateway-secret \(or SWITCHBOARD_GATEWAY_SECRET\)/],
      [['nonsense'], {}, /unknown command "nonsense"/],
    ];
    const results = await Promise.all(
      cases.map(([args, env]) => switchboard(args, { SWITCHBOARD_GATEWAY_SECRET: '', ...env })),
    );
    for (const [i, [, , reason]] of cases.entries()) {
      const result = results[i];
      if (result === undefined) throw new Error(`no result for case ${i}`);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(reason);
      expect(result.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('runs central on embedded PGlite, prints the generated admin password once, and stops on SIGTERM', async () => {
    const dataDir = await leftovers.tempDir();
    // The run's migrated PGlite database, without users: central still makes its admin on this
    // first start. From nothing (initdb and every migration in WebAssembly) the start took tens of
    // seconds of a loaded machine, past the 60 s wait for its password line once.
    await seedCentralDataDir(dataDir);
    const first = startProcess(
      leftovers,
      'central',
      ['central', '--port', '0', '--data-dir', dataDir],
      { SWITCHBOARD_ADMIN_PASSWORD: '', SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET },
    );
    const password = (await first.waitForLine(/password: (\S+) \(shown once/))[1] as string;
    const url = (await first.waitForLine(/ready at (http:\/\/\S+)\/graphql/))[1] as string;
    const login = ok(
      await gql<{ login: { token: string } }>(
        url,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: password },
      ),
    );
    expect(login.login.token).toMatch(/^ey/);
    expect(await first.kill('SIGTERM')).toBe(0);

    // A second start on the same data keeps the admin and prints no password.
    const second = startProcess(
      leftovers,
      'central',
      ['central', '--port', '0', '--data-dir', dataDir],
      {
        SWITCHBOARD_ADMIN_PASSWORD: ADMIN_PASSWORD,
        SWITCHBOARD_GATEWAY_SECRET: TEST_GATEWAY_SECRET,
      },
    );
    const url2 = (await second.waitForLine(/ready at (http:\/\/\S+)\/graphql/))[1] as string;
    expect(second.lines.join('\n')).not.toMatch(/shown once/);
    ok(
      await gql(
        url2,
        'mutation($p: String!) { login(username: "admin", password: $p) { token } }',
        { p: password },
      ),
    );
    expect(await second.kill('SIGINT')).toBe(0);
  });
});
