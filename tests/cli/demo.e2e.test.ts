// `npm start` as a newcomer runs it: `switchboard demo` starts central, three nodes and the
// gateway as processes, seeds on the first run, stops them all on Ctrl-C, and reuses the data.
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { startProcess, type Proc } from '../helpers/processes.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

const PASSWORD = 'demo-password-1';
const BANNER = /GraphQL endpoint \+ IDE: (http:\/\/\S+)\/graphql/;

interface RoomView {
  name: string;
  messages: { edges: { node: { content: string; sender: { displayName: string } } }[] } | null;
}

async function loginAs(gatewayUrl: string, username: string): Promise<string> {
  return ok(
    await gql<{ login: { token: string } }>(
      gatewayUrl,
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
      { u: username, p: PASSWORD },
    ),
  ).login.token;
}

async function roomsAs(gatewayUrl: string, username: string) {
  const token = await loginAs(gatewayUrl, username);
  return ok(
    await gql<{ rooms: RoomView[] }>(
      gatewayUrl,
      '{ rooms { name messages(last: 10) { edges { node { content sender { displayName } } } } } }',
      {},
      { token },
    ),
  ).rooms;
}

/** The README's first query (walk-through step 1), as users copy it into the IDE. */
function readmeFirstQuery(): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /```graphql\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md lost its first query');
  return block;
}

async function startDemo(dataDir: string): Promise<{ proc: Proc; gatewayUrl: string }> {
  const proc = startProcess(leftovers, 'demo', ['demo', '--data-dir', dataDir, '--port', '0'], {
    SWITCHBOARD_DEMO_PASSWORD: PASSWORD,
  });
  const gatewayUrl = (await proc.waitForLine(BANNER, 120_000))[1] as string;
  return { proc, gatewayUrl };
}

/** The README's "from a shell" walk-through, pointed at this demo: the commands users copy. */
function readmeShellWalkthrough(gatewayUrl: string): string {
  const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
  const block = /The same from a shell:\s*```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md lost its shell walk-through');
  return block
    .replaceAll('localhost:4000', new URL(gatewayUrl).host)
    .replaceAll('PASSWORD', PASSWORD);
}

describe('switchboard demo', () => {
  it(
    'runs a seeded cluster, stops every process on SIGINT, and reuses its data',
    { timeout: 240_000 },
    async () => {
      const dataDir = await leftovers.tempDir('switchboard-demo-');

      const first = await startDemo(dataDir);
      expect(first.proc.lines.some((l) => l.includes(`alice / ${PASSWORD}`))).toBe(true);
      const rooms = await roomsAs(first.gatewayUrl, 'alice');
      expect(rooms.map((r) => r.name).sort()).toEqual([
        'alice & bob',
        'design',
        'general',
        'random',
      ]);
      // Rooms are homed on three different nodes: all their messages come back through one endpoint.
      const messages = rooms.flatMap((r) => r.messages?.edges ?? []);
      expect(messages).toHaveLength(6);
      expect(new Set(messages.map((e) => e.node.sender.displayName))).toEqual(
        new Set(['Alice', 'Bob', 'Carol']),
      );

      // The README's shell walk-through works as written against this demo.
      const { stdout } = await promisify(execFile)('bash', [
        '-c',
        readmeShellWalkthrough(first.gatewayUrl),
      ]);
      const answer = JSON.parse(stdout) as { data: { me: { rooms: RoomView[] } } };
      expect(answer.data.me.rooms.map((r) => r.name).sort()).toEqual([
        'alice & bob',
        'design',
        'general',
        'random',
      ]);
      // The README's first query answers every demo user without a single error: their own rooms
      // (admin is in none; carol does not see alice and bob's direct conversation).
      for (const [username, count] of [
        ['alice', 4],
        ['bob', 4],
        ['carol', 3],
        ['admin', 0],
      ] as const) {
        const token = await loginAs(first.gatewayUrl, username);
        const mine = ok(
          await gql<{ me: { rooms: RoomView[] } }>(
            first.gatewayUrl,
            readmeFirstQuery(),
            {},
            {
              token,
            },
          ),
        ).me.rooms;
        expect(mine, username).toHaveLength(count);
        expect(
          mine.every((r) => (r.messages?.edges.length ?? 0) > 0),
          username,
        ).toBe(true);
      }

      first.proc.child.kill('SIGINT');
      expect(await first.proc.exited).toBe(0);
      // Every component logged its own shutdown: none was left running or killed.
      for (const name of ['gateway', 'central', 'node/node-a', 'node/node-b', 'node/node-c'])
        expect(first.proc.lines).toContain(`[${name}] SIGTERM: shutting down`);
      await expect(fetch(`${first.gatewayUrl}/health`)).rejects.toThrow();

      const second = await startDemo(dataDir);
      // Not seeded again, and passwords are not shown again.
      expect(second.proc.lines.some((l) => l.includes(PASSWORD))).toBe(false);
      const again = await roomsAs(second.gatewayUrl, 'bob');
      expect(again.map((r) => r.name).sort()).toEqual([
        'alice & bob',
        'design',
        'general',
        'random',
      ]);
      expect(again.flatMap((r) => r.messages?.edges ?? [])).toHaveLength(6);
      second.proc.child.kill('SIGINT');
      expect(await second.proc.exited).toBe(0);
    },
  );
});
