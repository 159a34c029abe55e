// Several instances of every tier on one real PostgreSQL (issue 20), as real processes: two
// centrals on one database, two gateways, three nodes split between the centrals (each gateway and
// node names every central, its own first). What crosses instances arrives exactly once; the
// login throttle and the schedule are shared; a central that starts fails nobody else's session;
// reports under concurrent FULL syncs neither deadlock nor leave a session IN_PROGRESS; a kill -9
// of each instance under a steady post load loses and duplicates nothing for clients that retry
// on the other gateway with the same clientMessageId; a gateway with no central left is not ready.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { codes, gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { collect, wsClient } from '../helpers/subscriptions.ts';
import { ScaleCluster } from './harness.ts';
import { PostLoad } from './postLoad.ts';

const leftovers = new Leftovers();
let cluster: ScaleCluster;
const tokens = new Map<string, string>();
/** Room name -> id; each room on two nodes, so that every node is a home and a replica. */
const rooms = new Map<string, string>();
const PLACEMENT: Record<string, [string, string]> = {
  'room-a': ['node-a', 'node-b'],
  'room-b': ['node-b', 'node-c'],
  'room-c': ['node-c', 'node-a'],
};
const SCHEDULER_LOCK = 727_002;
const RESTARTED = /central restarted/;
const PASSWORD = 'scale-password-1';

const gatewayUrl = (i: number) => cluster.gateways[i]?.url as string;
const roomIds = () => [...rooms.values()];

function asAdmin<T>(url: string, query: string, variables: Record<string, unknown> = {}) {
  return gql<T>(url, query, variables, { token: cluster.adminToken });
}

async function login(url: string, username: string, password = PASSWORD): Promise<string> {
  return ok(
    await gql<{ login: { token: string } }>(
      url,
      'mutation($u: String!, $p: String!) { login(username: $u, password: $p) { token } }',
      { u: username, p: password },
    ),
  ).login.token;
}

async function triggerFull(gateway: number): Promise<string[]> {
  return ok(
    await asAdmin<{ triggerSync: Array<{ id: string }> }>(
      gatewayUrl(gateway),
      'mutation { triggerSync(syncType: FULL) { id } }',
    ),
  ).triggerSync.map((s) => s.id);
}

interface SessionRow {
  id: string;
  status: string;
  error: string | null;
  target: string;
  source: string;
}

/** Sessions central schedules and dispatches (live windows excluded), from the database. */
async function sessions(where = 'true', values: unknown[] = []): Promise<SessionRow[]> {
  return cluster.sql<SessionRow>(
    `SELECT s.id, s.status, s.error, t.name AS target, src.name AS source
       FROM sync_sessions s JOIN nodes t ON t.id = s.target_node_id
       JOIN nodes src ON src.id = s.source_node_id
      WHERE s.live_report_seq IS NULL AND (${where})`,
    values,
  );
}

/** Waits until none of `ids` is PENDING or IN_PROGRESS; returns their final rows. */
async function ended(ids: readonly string[], timeout = 90_000): Promise<SessionRow[]> {
  let rows: SessionRow[] = [];
  await expect
    .poll(
      async () => {
        rows = await sessions('s.id = ANY($1)', [ids]);
        return rows.filter((r) => r.status === 'PENDING' || r.status === 'IN_PROGRESS');
      },
      { timeout, interval: 250, message: 'sessions still running' },
    )
    .toEqual([]);
  return rows;
}

/** Index of every live central whose log says it runs the schedule (newest process only). */
function schedulers(): number[] {
  return cluster.centrals.flatMap((central, i) =>
    central.proc.child.exitCode === null &&
    central.proc.child.signalCode === null &&
    central.proc.lines.some((line) => line.includes('schedules the nodes'))
      ? [i]
      : [],
  );
}

async function schedulerLocks(): Promise<number> {
  const [row] = await cluster.sql<{ n: string }>(
    `SELECT count(*) AS n FROM pg_locks
      WHERE locktype = 'advisory' AND granted AND classid = 0 AND objid = $1
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [SCHEDULER_LOCK],
  );
  return Number(row?.n ?? 0);
}

beforeAll(async () => {
  cluster = await ScaleCluster.start(leftovers, {
    // Small batches: a FULL session of a few hundred messages sends central many reports.
    centralEnv: {
      SWITCHBOARD_SYNC_FULL_BATCH_SIZE: '10',
      SWITCHBOARD_SYNC_BATCH_SIZE: '10',
      // A killed central's sessions are taken over once its lease expired: sooner than the
      // default 15 s, to keep the suite short.
      SWITCHBOARD_INSTANCE_LEASE_MS: '6000',
    },
    nodeEnv: { SWITCHBOARD_SYNC_MAX_BATCH_SIZE: '10' },
  });
  for (const user of ['alice', 'bob']) {
    ok(
      await asAdmin(
        gatewayUrl(0),
        'mutation($u: String!, $p: String!) { createUser(username: $u, password: $p) { id } }',
        { u: user, p: PASSWORD },
      ),
    );
    tokens.set(user, await login(gatewayUrl(1), user));
  }
  for (const [name, [home, replica]] of Object.entries(PLACEMENT)) {
    const { createRoom } = ok(
      await asAdmin<{ createRoom: { id: string } }>(
        gatewayUrl(0),
        'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
        { n: name, h: cluster.node(home).id, r: [cluster.node(replica).id] },
      ),
    );
    rooms.set(name, createRoom.id);
    for (const [user, token] of tokens)
      ok(
        await gql(
          gatewayUrl(user === 'alice' ? 0 : 1),
          'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
          { r: createRoom.id },
          { token },
        ),
      );
  }
  // History for the FULL sessions to move.
  const seed = new PostLoad({
    gateways: () => cluster.gateways.map((g) => g.url),
    rooms: roomIds(),
    tokens: [...tokens.values()],
    clients: 8,
    tag: 'seed',
  }).start();
  await seed.waitForMore(300, 120_000);
  await seed.stop();
  expect(seed.refused).toEqual([]);
}, 300_000);
afterAll(() => leftovers.dispose());

describe('several centrals and gateways on one PostgreSQL', () => {
  it('serves tokens, users and rooms made on one instance from every other, once', async () => {
    // A token central 0 signed works on central 1 and on either gateway.
    const token = await login(cluster.centralUrl(0), 'alice');
    for (const url of [cluster.centralUrl(1), gatewayUrl(0), gatewayUrl(1)]) {
      const me = ok(
        await gql<{ me: { username: string } }>(url, '{ me { username } }', {}, { token }),
      );
      expect(me.me.username).toBe('alice');
    }
    ok(
      await asAdmin(
        gatewayUrl(1),
        'mutation($p: String!) { createUser(username: "dora", password: $p) { id } }',
        { p: PASSWORD },
      ),
    );
    const users = ok(
      await asAdmin<{ users: Array<{ username: string }> }>(
        gatewayUrl(0),
        '{ users { username } }',
      ),
    ).users.filter((u) => u.username === 'dora');
    expect(users).toHaveLength(1);
    const listed = ok(
      await asAdmin<{ rooms: Array<{ id: string }> }>(gatewayUrl(1), '{ rooms { id } }'),
    ).rooms.map((r) => r.id);
    for (const id of roomIds()) expect(listed.filter((r) => r === id)).toHaveLength(1);
    // Every node is routable from both gateways, whichever central it talks to.
    for (const gateway of [0, 1]) await cluster.waitUntilRoutable(gateway);
  });

  it('delivers messageAdded, syncSessionUpdated and nodeStatusChanged to either gateway once', async () => {
    const roomId = rooms.get('room-a') as string;
    const alice = tokens.get('alice') as string;
    type Added = { messageAdded: { id: string; content: string } };
    type Session = { syncSessionUpdated: { id: string; status: string } };
    type Status = { nodeStatusChanged: { name: string; status: string } };
    const added = [0, 1].map((g) =>
      collect<Added>(
        wsClient(leftovers, gatewayUrl(g), alice),
        'subscription($r: ID!) { messageAdded(roomId: $r) { id content } }',
        { r: roomId },
      ),
    );
    const admin = [0, 1].map((g) => wsClient(leftovers, gatewayUrl(g), cluster.adminToken));
    const updates = admin.map((client) =>
      collect<Session>(client, 'subscription { syncSessionUpdated { id status } }'),
    );
    const statuses = admin.map((client) =>
      collect<Status>(client, 'subscription { nodeStatusChanged { name status } }'),
    );
    // A subscription is live once it has delivered something: post until all have (each post
    // also ends in a live window, a syncSessionUpdated event).
    const warming = [...added, ...updates];
    for (let n = 0; warming.some((a) => a.events.length === 0); n++) {
      ok(
        await gql(
          gatewayUrl(n % 2),
          'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
          { r: roomId, c: `warm-up ${n}` },
          { token: alice },
        ),
      );
      await Promise.race([
        Promise.all(warming.map((a) => a.waitFor(1))),
        new Promise((resolve) => setTimeout(resolve, 500)),
      ]);
    }

    const posted: string[] = [];
    for (let n = 0; n < 6; n++) {
      const { postMessage } = ok(
        await gql<{ postMessage: { id: string } }>(
          gatewayUrl(n % 2),
          'mutation($r: ID!, $c: String!) { postMessage(roomId: $r, content: $c) { id } }',
          { r: roomId, c: `across ${n}` },
          { token: alice },
        ),
      );
      posted.push(postMessage.id);
    }
    // A last post after them: once it arrived, a duplicate of the others would have too.
    const last = ok(
      await gql<{ postMessage: { id: string } }>(
        gatewayUrl(1),
        'mutation($r: ID!) { postMessage(roomId: $r, content: "last") { id } }',
        { r: roomId },
        { token: alice },
      ),
    ).postMessage.id;
    for (const subscriber of added) {
      await subscriber.waitUntil((e) => e.messageAdded.id === last);
      const ids = subscriber.events.map((e) => e.messageAdded.id);
      for (const id of [...posted, last]) expect(ids.filter((i) => i === id)).toHaveLength(1);
    }

    // Sessions made through gateway 0 (central 0), followed on both gateways: each one's end
    // arrives once. A second round's ends arriving proves the first's duplicates would have.
    const first = await triggerFull(0);
    await ended(first);
    const second = await triggerFull(1);
    await ended(second);
    for (const subscriber of updates) {
      // Each second-round session's end event, not any event past IN_PROGRESS: a PENDING one
      // satisfied that, and the end itself (published after its row commits, so after `ended`
      // saw it) could still be on its way when the counts below were taken.
      for (const id of second)
        await subscriber.waitUntil(
          (e) =>
            e.syncSessionUpdated.id === id &&
            ['COMPLETED', 'FAILED'].includes(e.syncSessionUpdated.status),
        );
      for (const id of [...first, ...second]) {
        const ends = subscriber.events.filter(
          (e) =>
            e.syncSessionUpdated.id === id &&
            ['COMPLETED', 'FAILED'].includes(e.syncSessionUpdated.status),
        );
        expect(ends, `session ${id}`).toHaveLength(1);
      }
    }

    // node-b (on central 1) frozen, then thawed: one OFFLINE, then one ONLINE, on both gateways.
    const nodeB = cluster.node('node-b');
    nodeB.proc.child.kill('SIGSTOP');
    try {
      for (const subscriber of statuses)
        await subscriber.waitUntil(
          (e) => e.nodeStatusChanged.name === 'node-b' && e.nodeStatusChanged.status === 'OFFLINE',
        );
    } finally {
      nodeB.proc.child.kill('SIGCONT');
    }
    for (const subscriber of statuses) {
      await subscriber.waitUntil(
        (e) => e.nodeStatusChanged.name === 'node-b' && e.nodeStatusChanged.status === 'ONLINE',
      );
    }
    // Both gateways saw the same changes of node-b, none of them twice in a row (a duplicate
    // delivery would be): on a loaded machine node-b may also have flapped, which is no duplicate.
    const changesOfB = (subscriber: (typeof statuses)[number]) =>
      subscriber.events
        .filter((e) => e.nodeStatusChanged.name === 'node-b')
        .map((e) => e.nodeStatusChanged.status);
    await expect
      .poll(() => changesOfB(statuses[1] as (typeof statuses)[number]))
      .toEqual(changesOfB(statuses[0] as (typeof statuses)[number]));
    for (const subscriber of statuses) {
      const changes = changesOfB(subscriber);
      expect(changes.filter((status, i) => status === changes[i - 1])).toEqual([]);
      expect(changes.at(-1)).toBe('ONLINE');
    }
    for (const s of [...added, ...updates, ...statuses]) s.stop();
    for (const gateway of [0, 1]) await cluster.waitUntilRoutable(gateway);
  });

  it('shares the login throttle between the centrals behind different gateways', async () => {
    ok(
      await asAdmin(
        gatewayUrl(0),
        'mutation($p: String!) { createUser(username: "carol", password: $p) { id } }',
        { p: PASSWORD },
      ),
    );
    // 10 failures per username from one address (the default) through gateway 0 / central 0...
    for (let i = 0; i < 10; i++) {
      const wrong = await gql(
        gatewayUrl(0),
        'mutation($p: String!) { login(username: "carol", password: $p) { token } }',
        { p: `guess-${i}` },
      );
      expect(codes(wrong)).toEqual(['UNAUTHENTICATED']);
    }
    // ...count at gateway 1 / central 1: the right password from the same address is refused.
    const right = await gql(
      gatewayUrl(1),
      'mutation($p: String!) { login(username: "carol", password: $p) { token } }',
      { p: PASSWORD },
    );
    expect(codes(right)).toEqual(['RATE_LIMITED']);
  });

  it('runs the schedule on one central only', async () => {
    expect(await schedulerLocks()).toBe(1);
    expect(schedulers()).toHaveLength(1);
  });

  it('fails no running session when a spare central starts', async () => {
    // node-c frozen right after the FULL syncs are dispatched: the sessions it is the target of
    // stay IN_PROGRESS (its job stream stays open) for as long as the spare takes to start.
    const triggered = await triggerFull(0);
    const nodeC = cluster.node('node-c');
    nodeC.proc.child.kill('SIGSTOP');
    let running: SessionRow[];
    try {
      await expect
        .poll(
          async () =>
            (running = (await sessions('s.id = ANY($1)', [triggered])).filter(
              (s) => s.status === 'IN_PROGRESS' && s.target === 'node-c',
            )).length,
          { timeout: 30_000, message: 'no session to node-c was dispatched' },
        )
        .toBeGreaterThan(0);
      const spare = await cluster.startCentral(2);
      leftovers.defer(async () => void (await spare.proc.kill('SIGTERM')));
    } finally {
      nodeC.proc.child.kill('SIGCONT');
    }
    const rows = await ended(triggered);
    expect(rows.filter((r) => RESTARTED.test(r.error ?? ''))).toEqual([]);
    for (const session of running!)
      expect(rows.find((r) => r.id === session.id)?.error ?? '').not.toMatch(RESTARTED);
    await cluster.centrals[2]?.proc.kill('SIGTERM');
    cluster.centrals.length = 2;
    for (const gateway of [0, 1]) await cluster.waitUntilRoutable(gateway);
  });

  it('records reports of concurrent FULL syncs without deadlocks, leaving no session running', async () => {
    // The test cluster's own server log: where PostgreSQL reports every deadlock it broke.
    const log = cluster.serverLog();
    expect(log).toBeDefined();
    const logFrom = log?.mark() ?? 0;
    const deadlocksBefore = await cluster.deadlocks();
    const load = new PostLoad({
      gateways: () => cluster.gateways.map((g) => g.url),
      rooms: roomIds(),
      tokens: [...tokens.values()],
      clients: 6,
      tag: 'during-full',
    }).start();
    const triggered: string[] = [];
    try {
      // Every pair at once, through both centrals, three rounds (each round's request also
      // queues the next one behind the running ones).
      for (let round = 0; round < 3; round++) {
        const [a, b] = await Promise.all([triggerFull(0), triggerFull(1)]);
        triggered.push(...a, ...b);
        await load.waitForMore(30);
      }
    } finally {
      // A FULL session ends when it has caught up: not while posts outrun its small batches.
      await load.stop();
    }
    const rows = await ended([...new Set(triggered)], 150_000);
    expect(rows.filter((r) => r.status === 'COMPLETED').length).toBeGreaterThan(0);
    expect(load.refused).toEqual([]);
    // Nothing dispatched is left IN_PROGRESS or waiting behind one.
    await expect
      .poll(async () => sessions("s.status IN ('IN_PROGRESS', 'PENDING')"), {
        timeout: 60_000,
        interval: 500,
      })
      .toEqual([]);
    const failedByDatabase = (await sessions("s.error ILIKE '%deadlock%'")).map((s) => s.error);
    expect(failedByDatabase).toEqual([]);
    for (const central of cluster.centrals)
      expect(central.proc.lines.filter((l) => /deadlock detected/.test(l))).toEqual([]);
    if (log) expect(log.since(logFrom).match(/deadlock detected.*/g) ?? []).toEqual([]);
    expect(await cluster.deadlocks()).toBe(deadlocksBefore);
  }, 240_000);

  it('loses and duplicates no post when each instance is killed (-9) under load', async () => {
    const load = new PostLoad({
      gateways: () => cluster.gateways.map((g) => g.url),
      rooms: roomIds(),
      tokens: [...tokens.values()],
      clients: 8,
      tag: 'under-kills',
    }).start();
    try {
      await load.waitForMore(20);
      for (const index of [0, 1]) {
        // FULL syncs in flight when the central dies: the sessions it dispatched must not stay
        // IN_PROGRESS (another central takes them over) without it ever coming back.
        const triggered = await triggerFull(index === 0 ? 1 : 0);
        const wasLeading = schedulers().includes(index);
        await cluster.centrals[index]?.proc.kill('SIGKILL');
        // Those it dispatched: to the nodes whose job stream it held (it is their first URL).
        const attached = [...cluster.nodes.values()]
          .filter((n) => n.central === index)
          .map((n) => n.name);
        const orphaned = (await sessions('s.id = ANY($1)', [triggered])).filter(
          (s) => s.status === 'IN_PROGRESS' && attached.includes(s.target),
        );
        await load.waitForMore(30);
        if (orphaned.length > 0) await ended(orphaned.map((s) => s.id));
        const other = index === 0 ? 1 : 0;
        if (wasLeading)
          await cluster.centrals[other]?.proc.waitForLine(/schedules the nodes/, 60_000);
        await cluster.startCentral(index);
        await load.waitForMore(20);
        expect(await schedulerLocks()).toBe(1);
      }
      for (const index of [0, 1]) {
        await cluster.gateways[index]?.proc.kill('SIGKILL');
        await load.waitForMore(30);
        await cluster.startGateway(index);
        await load.waitForMore(20);
      }
      await cluster.node('node-c').proc.kill('SIGKILL');
      await load.waitForMore(30);
      await cluster.startNode('node-c');
      for (const gateway of [0, 1]) await cluster.waitUntilRoutable(gateway);
      await load.waitForMore(20);
    } finally {
      await load.stop();
    }
    expect(load.refused).toEqual([]);
    expect(load.acked.length).toBeGreaterThan(200);

    // Every acknowledged post on every storage node of its room, under the id it was given, and
    // no post (acknowledged or given up) stored twice.
    const byContent = new Map(load.acked.map((p) => [p.content, p]));
    const roomNames = new Map([...rooms].map(([name, id]) => [id, name]));
    const problems = () => {
      const found: string[] = [];
      for (const [name, node] of cluster.nodes) {
        const stored = cluster
          .storedMessages(name, roomIds())
          .filter((m) => m.content.startsWith('under-kills '));
        const counts = new Map<string, number>();
        for (const m of stored) counts.set(m.content, (counts.get(m.content) ?? 0) + 1);
        for (const [content, n] of counts)
          if (n > 1) found.push(`${node.name}: "${content}" stored ${n} times`);
        const ids = new Set(stored.map((m) => m.id));
        for (const post of byContent.values()) {
          const room = roomNames.get(post.roomId) as string;
          if (PLACEMENT[room]?.includes(name) && !ids.has(post.id))
            found.push(`${name}: lacks ${post.id} ("${post.content}")`);
        }
      }
      return found;
    };
    await expect
      .poll(() => problems().slice(0, 10), { timeout: 120_000, interval: 500 })
      .toEqual([]);
  }, 400_000);

  it('answers 503 on /ready of a gateway whose centrals are all gone', async () => {
    for (const central of cluster.centrals) await central.proc.kill('SIGKILL');
    for (const gateway of [0, 1]) {
      await expect
        .poll(async () => (await cluster.ready(gateway)).status, { timeout: 30_000 })
        .toBe(503);
      const metrics = await (await fetch(`${gatewayUrl(gateway)}/metrics`)).text();
      expect(metrics).toMatch(/^switchboard_gateway_central_connected 0$/m);
    }
  });
});
