// Central's statements per request do not grow with the number of nodes (#15): a live-report
// request of 8 windows from 8 sources runs as many statements as one of 2 windows from 2
// sources, both opening and continuing windows; a node's requests read its row once per TTL of
// the authentication cache, and a rotated key is refused at once all the same. A real central
// (PGlite) whose statements are counted through the driver's log; its periodic work and the
// authentication cache's TTL are set far apart so that what is counted is the requests'. A node's
// periodic membership refresh reads nothing while its tag matches (no membership, room or node
// changed), and the full history once something did.
import { createHash } from 'node:crypto';
import { eq } from 'drizzle-orm';
import { v7 as uuidv7 } from 'uuid';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  SYNC_AUTHORITY_PATH,
  SYNC_LIVE_REPORTS_PATH,
  type AppliedChange,
  type AuthorityAnswer,
  type LiveReport,
} from '../../lib/syncProtocol.ts';
import { nodes } from '../../subgraphs/central/db/schema.ts';
import { flushHeartbeats } from '../../subgraphs/central/nodeLiveness.ts';
import { startTestCentral, type TestCentral } from '../helpers/central.ts';
import { gql, ok } from '../helpers/graphql.ts';
import { Leftovers } from '../helpers/leftovers.ts';
import { heartbeat, postAsNode } from '../sync/nodeSide.ts';

const leftovers = new Leftovers();
afterAll(() => leftovers.dispose());

type TestNode = { id: string; apiKey: string };
const QUIET_MS = 600_000;
const queries: string[] = [];
let t: TestCentral;
let target: TestNode;
let sources: TestNode[];
let room: string;
let alice: { id: string; token: string };

const sha = (text: string) => createHash('sha256').update(text).digest('hex');
const hlc = (ms: number, node: string) => `${String(ms).padStart(15, '0')}:00000000:${node}`;
let tick = 0;

function change(origin: string): AppliedChange {
  tick += 1;
  const messageId = uuidv7();
  return {
    messageId,
    roomId: room,
    senderId: alice.id,
    contentHash: sha(`${messageId}@${tick}`),
    originNode: origin,
    createdAt: 1_700_000_000_000,
    updatedAt: 1_700_000_000_000 + tick,
    deleted: false,
    action: 'CREATE',
    hlc: hlc(1_700_000_000_000 + tick, origin),
  };
}

function report(source: TestNode, windowId: string, sequence: number): LiveReport {
  return {
    windowId,
    sourceNodeId: source.id,
    sequence,
    final: false,
    cursorBefore: 0,
    cursor: sequence * 10,
    sourceHeadSeq: sequence * 10 + tick,
    applied: [change(source.id), change(source.id)],
  };
}

/** The statements central ran for `send` (the run of a request, from sending to its answer). */
async function statementsOf(send: () => Promise<unknown>): Promise<string[]> {
  const from = queries.length;
  await send();
  return queries.slice(from);
}

beforeAll(async () => {
  t = await startTestCentral(leftovers, {
    // On PostgreSQL central hears even its own events later, through NOTIFY: the comeback's
    // nodeStatusChanged below could then forget the target's row after its second heartbeat
    // cached it, and a request would read it again. On PGlite they arrive before the answer.
    pglite: true,
    heartbeatIntervalMs: QUIET_MS,
    instanceLeaseMs: QUIET_MS,
    syncLiveWindowStaleMs: QUIET_MS,
    // Kept for the whole test: what is counted does not depend on how fast the machine runs it.
    nodeAuthTtlMs: QUIET_MS,
    onQuery: (sql) => queries.push(sql),
  });
  const nodes: TestNode[] = [];
  for (let i = 0; i < 9; i += 1) {
    const url = `http://127.0.0.1:1/count-${i}`;
    const node = await t.registerNode(`count-${i}`, url);
    expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
    nodes.push(node);
  }
  [target, ...sources] = nodes as [TestNode, ...TestNode[]];
  // Its first heartbeat was a comeback, whose event forgot the row: this one keeps it.
  expect((await heartbeat(t.url, target.apiKey, 'http://127.0.0.1:1/count-0')).status).toBe(200);
  alice = await t.createUser('alice');
  // Stored by every node (no replica list).
  room = ok(
    await gql<{ createRoom: { id: string } }>(
      t.url,
      'mutation($h: ID) { createRoom(name: "counted", homeNodeId: $h) { id } }',
      { h: target.id },
      { token: alice.token },
    ),
  ).createRoom.id;
});

describe('statements per request', () => {
  it('records a live-report request of 8 windows with as many statements as one of 2', async () => {
    const send = async (reports: LiveReport[]) => {
      const sent = await postAsNode(t.url, target.apiKey, SYNC_LIVE_REPORTS_PATH, { reports });
      expect(sent.status).toBe(200);
      expect(sent.body.results.map((r: { recorded?: boolean }) => r.recorded)).toEqual(
        reports.map(() => true),
      );
    };
    const counts = async (n: number) => {
      const windows = sources.slice(0, n).map((source) => ({ source, id: uuidv7() }));
      const opening = await statementsOf(() => send(windows.map((w) => report(w.source, w.id, 1))));
      const continuing = await statementsOf(() =>
        send(windows.map((w) => report(w.source, w.id, 2))),
      );
      return { opening, continuing };
    };
    const two = await counts(2);
    const eight = await counts(8);
    expect(eight.opening).toHaveLength(two.opening.length);
    expect(eight.continuing).toHaveLength(two.continuing.length);
    // The same statements, not only as many (a bulk one per step, in the same order).
    // (A statement's start names it; its lists of parameters and rows differ in length.)
    const shape = (sql: string) =>
      (sql.replace(/\s+/g, ' ').trim().split('$')[0] ?? '').slice(0, 60);
    expect(eight.continuing.map(shape)).toEqual(two.continuing.map(shape));
    // The node's row was not read for any of them: it was authenticated from the cache.
    expect(
      [two, eight].flatMap((c) => [...c.opening, ...c.continuing]).filter(isKeyLookup),
    ).toEqual([]);
  });

  it('reads a node row once for many requests, and refuses a rotated key at once', async () => {
    const node = sources[0];
    if (!node) throw new Error('no source node');
    const url = 'http://127.0.0.1:1/count-1';
    // Kept by the cache, then rotated: the old key is refused at once, not after the TTL.
    expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(200);
    const rotated = ok(
      await gql<{ rotateNodeApiKey: { apiKey: string } }>(
        t.url,
        'mutation($id: ID!) { rotateNodeApiKey(nodeId: $id) { apiKey } }',
        { id: node.id },
        { token: t.adminToken },
      ),
    ).rotateNodeApiKey.apiKey;
    expect((await heartbeat(t.url, node.apiKey, url)).status).toBe(401);
    // The new key's row is read once, and the next requests do not read it.
    const beats = await statementsOf(async () => {
      for (let i = 0; i < 10; i += 1)
        expect((await heartbeat(t.url, rotated, url)).status).toBe(200);
    });
    expect(beats.filter(isKeyLookup)).toHaveLength(1);
    // A heartbeat of a node ONLINE already writes nothing of its own: the beats of all nodes are
    // written together, in one statement, at the liveness sweep's next tick (heartbeatBatch.ts).
    expect(beats).toHaveLength(1);
    const seenAt = async () =>
      (await t.central.services.db.select().from(nodes).where(eq(nodes.id, node.id)))[0]
        ?.lastSeenAt;
    const before = await seenAt();
    const tick = await statementsOf(() => flushHeartbeats(t.central.services));
    expect(tick).toHaveLength(1);
    expect(tick[0]).toMatch(/^update "nodes" set "last_seen_at" = greatest/);
    expect((await seenAt())?.getTime()).toBeGreaterThan(before?.getTime() ?? Infinity);
  });
});

describe("a node's membership refresh", () => {
  it('reads nothing while its tag matches, and the full history again after a join', async () => {
    const refresh = async (tag?: string) => {
      const sent = await postAsNode(t.url, target.apiKey, SYNC_AUTHORITY_PATH, {
        roomIds: [room],
        senders: [],
        intervals: true,
        roomMembers: true,
        ...(tag === undefined ? {} : { roomMembersTag: tag }),
      });
      expect(sent.status).toBe(200);
      return sent.body as AuthorityAnswer;
    };
    const members = (answer: AuthorityAnswer) =>
      (answer.roomMemberships ?? []).map((h) => [h.userId, h.intervals.at(-1)?.until]);
    // Without a tag (a node that predates them): the full answer, read as always, and a tag.
    let first!: AuthorityAnswer;
    const full = await statementsOf(async () => (first = await refresh()));
    expect(full.filter(isHistoryRead)).toHaveLength(1);
    expect(members(first)).toEqual([[alice.id, null]]);
    expect(first.storageNodes[room]).toContain(target.id);
    expect(first.roomMembersTag).toEqual(expect.any(String));
    expect(first.roomMembershipsUnchanged).toBeUndefined();
    // With it, nothing changed: no statement at all, and a new asOf for what the node holds.
    let second!: AuthorityAnswer;
    const unchanged = await statementsOf(
      async () => (second = await refresh(first.roomMembersTag)),
    );
    expect(unchanged).toEqual([]);
    expect(second).toMatchObject({ roomMembershipsUnchanged: true, marginMs: first.marginMs });
    expect(second.roomMemberships).toBeUndefined();
    expect(second.asOf).toEqual(expect.any(Number));
    // A tag this central did not issue is no error: the full answer.
    const forged = await refresh(`${first.roomMembersTag}x`);
    expect(forged.roomMembershipsUnchanged).toBeUndefined();
    expect(members(forged)).toEqual([[alice.id, null]]);

    // bob joins: the next refresh with the tag held gets the new history.
    const bob = await t.createUser('bob-refresh');
    ok(
      await gql(
        t.url,
        'mutation($r: ID!) { joinRoom(roomId: $r) { id } }',
        { r: room },
        {
          token: bob.token,
        },
      ),
    );
    let third!: AuthorityAnswer;
    const after = await statementsOf(async () => (third = await refresh(forged.roomMembersTag)));
    expect(after.filter(isHistoryRead)).toHaveLength(1);
    expect(third.roomMembershipsUnchanged).toBeUndefined();
    expect(members(third)).toEqual(
      expect.arrayContaining([
        [alice.id, null],
        [bob.id, null],
      ]),
    );
    expect(third.roomMembersTag).not.toBe(forged.roomMembersTag);
    // And its tag is answered without reading again.
    const again = await statementsOf(async () =>
      expect((await refresh(third.roomMembersTag)).roomMembershipsUnchanged).toBe(true),
    );
    expect(again).toEqual([]);
  });
});

function isHistoryRead(sql: string): boolean {
  return /json_agg/i.test(sql);
}

function isKeyLookup(sql: string): boolean {
  return /from "nodes" where .*"api_key_hash"/i.test(sql);
}
