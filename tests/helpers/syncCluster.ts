// The cluster a central sync test starts from, in this process: nodes registered at a real central
// (ONLINE by their heartbeat, played by the test over HTTP; or real nodes with sync on), and a
// room placed on them by a user. What each test then does with sessions and reports is its own.
import { expect } from 'vitest';
import { createLogger, silentLogger } from '../../lib/log.ts';
import { startNode, type NodeOptions, type NodeServer } from '../../subgraphs/node/server.ts';
import { heartbeat } from '../sync/nodeSide.ts';
import type { TestCentral } from './central.ts';
import { gql, ok } from './graphql.ts';
import type { Leftovers } from './leftovers.ts';

/** A node as central knows it, whose half of the protocol the test speaks (tests/sync/nodeSide.ts). */
export interface ProtocolNode {
  readonly id: string;
  readonly apiKey: string;
}

/**
 * Registers a node per name and makes each ONLINE with one heartbeat. Node i beats through
 * `heartbeatVia[i % length]` (centrals sharing one database): by default `central` itself.
 */
export async function onlineNodes(
  central: TestCentral,
  names: readonly string[],
  heartbeatVia: readonly TestCentral[] = [central],
): Promise<ProtocolNode[]> {
  const nodes: ProtocolNode[] = [];
  for (const [i, name] of names.entries()) {
    const url = `http://127.0.0.1:1/${name}`;
    const node = await central.registerNode(name, url);
    const via = heartbeatVia[i % heartbeatVia.length] ?? central;
    expect((await heartbeat(via.url, node.apiKey, url)).status).toBe(200);
    nodes.push(node);
  }
  return nodes;
}

/** Creates, as `owner`, a room homed on `homeNodeId` and replicated on `replicaNodeIds`; its id. */
export async function createPlacedRoom(
  central: TestCentral,
  owner: { readonly token: string },
  homeNodeId: string,
  replicaNodeIds: readonly string[],
  name = 'r',
): Promise<string> {
  return ok(
    await gql<{ createRoom: { id: string } }>(
      central.url,
      'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
      { n: name, h: homeNodeId, r: replicaNodeIds },
      { token: owner.token },
    ),
  ).createRoom.id;
}

export interface SyncingNodeOptions extends Partial<
  Omit<NodeOptions, 'name' | 'dataDir' | 'centralUrl' | 'apiKey'>
> {
  /** The node's log lines go here (as well as to stderr with SWITCHBOARD_TEST_LOG). */
  readonly lines?: string[];
}

/** Registers `name` at `central` and starts it as a real node in this process, sync on. */
export async function startSyncingNode(
  leftovers: Leftovers,
  central: TestCentral,
  name: string,
  { lines, ...options }: SyncingNodeOptions = {},
): Promise<NodeServer> {
  const { apiKey } = await central.registerNode(name);
  const write = (line: string) => {
    lines?.push(line);
    if (process.env['SWITCHBOARD_TEST_LOG']) process.stderr.write(`${line}\n`);
  };
  return leftovers.add(
    await startNode({
      name,
      dataDir: await leftovers.tempDir(`switchboard-${name}-`),
      centralUrl: central.url,
      apiKey,
      // Tests wait for windows to end: a second after their last change, not the product's 10 s.
      syncLiveWindowIdleMs: 1000,
      logger:
        lines !== undefined || process.env['SWITCHBOARD_TEST_LOG']
          ? createLogger(name, { write })
          : silentLogger,
      ...options,
    }),
    (n) => n.close(),
  );
}
