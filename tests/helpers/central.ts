// Starts a real central on port 0 and offers the few calls most tests need: log in, create users,
// register nodes. Its database: a given one (databaseUrl, or a PGlite dataDir); else a copy of the
// run's migrated template in the shared PostgreSQL cluster, as production runs central; PGlite in
// a temp dir (seeded from its own migrated template) when asked for, or without that cluster.
import { createLogger, silentLogger } from '../../lib/log.ts';
import {
  startCentral,
  type CentralOptions,
  type CentralServer,
} from '../../subgraphs/central/server.ts';
import { centralTestDatabase, seedCentralDataDir } from './centralData.ts';
import { gql, ok, TEST_GATEWAY_SECRET } from './graphql.ts';
import type { Leftovers } from './leftovers.ts';

export const ADMIN_PASSWORD = 'admin-password-for-tests';

export interface TestCentral {
  readonly central: CentralServer;
  readonly url: string;
  readonly adminToken: string;
  login(username: string, password: string): Promise<string>;
  /** Creates a user (as admin) and returns its id and token. */
  createUser(username: string, role?: 'ADMIN' | 'MEMBER'): Promise<{ id: string; token: string }>;
  registerNode(name: string, url?: string): Promise<{ id: string; apiKey: string }>;
}

export interface TestCentralOptions extends Partial<CentralOptions> {
  /**
   * Embedded PGlite (in a temp dir unless `dataDir` is given), for tests of PGlite or of both
   * backends. Implied by `dataDir`. @default false: a database in the run's PostgreSQL cluster
   */
  readonly pglite?: boolean;
}

export async function startTestCentral(
  leftovers: Leftovers,
  testOptions: TestCentralOptions = {},
): Promise<TestCentral> {
  const { pglite = false, ...options } = testOptions;
  const databaseUrl =
    options.databaseUrl ??
    (pglite || options.dataDir !== undefined ? undefined : await centralTestDatabase(leftovers));
  const dataDir =
    databaseUrl !== undefined
      ? undefined
      : (options.dataDir ?? (await leftovers.tempDir('switchboard-central-')));
  if (dataDir !== undefined) await seedCentralDataDir(dataDir);
  const central = leftovers.add(
    await startCentral({
      port: 0,
      adminPassword: ADMIN_PASSWORD,
      gatewaySecret: TEST_GATEWAY_SECRET,
      // The suite's cost (tests/setup/global.ts), as children get it from the environment.
      ...(process.env['SWITCHBOARD_PASSWORD_HASH_COST'] === undefined
        ? {}
        : { passwordHashCost: Number(process.env['SWITCHBOARD_PASSWORD_HASH_COST']) }),
      logger: process.env['SWITCHBOARD_TEST_LOG'] ? createLogger('central') : silentLogger,
      ...(dataDir === undefined ? {} : { dataDir }),
      ...(databaseUrl === undefined ? {} : { databaseUrl }),
      ...options,
    }),
    (c) => c.close(),
  );
  const url = central.url;
  const login = async (username: string, password: string) =>
    ok(
      await gql<{ login: { token: string } }>(
        url,
        'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
        { u: username, p: password },
      ),
    ).login.token;
  const adminToken = await login('admin', ADMIN_PASSWORD);
  return {
    central,
    url,
    adminToken,
    login,
    async createUser(username, role = 'MEMBER') {
      const password = `pw-${username}-secret`;
      const created = ok(
        await gql<{ createUser: { id: string } }>(
          url,
          'mutation($u: String!, $p: String!, $r: Role) { createUser(username: $u, password: $p, role: $r) { id } }',
          { u: username, p: password, r: role },
          { token: adminToken },
        ),
      );
      return { id: created.createUser.id, token: await login(username, password) };
    },
    async registerNode(name, nodeUrl = `http://127.0.0.1:1/${name}`) {
      const data = ok(
        await gql<{ registerNode: { node: { id: string }; apiKey: string } }>(
          url,
          'mutation($n: String!, $u: String!) { registerNode(name: $n, url: $u) { node { id } apiKey } }',
          { n: name, u: nodeUrl },
          { token: adminToken },
        ),
      );
      return { id: data.registerNode.node.id, apiKey: data.registerNode.apiKey };
    },
  };
}
