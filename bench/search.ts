// Message search (issue 19), two results:
//  (a) searchMessages through the gateway: p50/p99 and searches/s with 16 clients over N messages
//      on 3 nodes (4 rooms on each, one copy), the caller a member of every room, so each search
//      scatters to all three nodes and merges. The nodes' files are filled directly through the
//      store (local posts, triggers and all) while the nodes are stopped, then the nodes restart.
//  (b) the write cost of the index: posts/s of the store alone (group commit, 64 writers) with
//      the FTS triggers and with them dropped, alternating, medians.
// Text: words drawn from a fixed vocabulary with a skewed (Zipf-like) distribution, so common
// words match many messages and rare ones few, as in chat. Queries: one or two words, or a prefix.
// `node --import tsx bench/search.ts [--full] [--messages=N] [--searches=N] [--requests=N]`
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { silentLogger } from '../lib/log.ts';
import { openNodeDb } from '../subgraphs/node/db/open.ts';
import { GroupCommit } from '../subgraphs/node/groupCommit.ts';
import { HybridLogicalClock } from '../subgraphs/node/hlc.ts';
import { MessageEvents } from '../subgraphs/node/messageEvents.ts';
import { MessageStore, type LocalWrite } from '../subgraphs/node/messageStore.ts';
import { Cluster } from '../tests/helpers/cluster.ts';
import { gql, ok } from '../tests/helpers/graphql.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { centralDataTemplate, closedLoop, median, numberArg, post, report, round } from './lib.ts';

const NODES = ['node-a', 'node-b', 'node-c'];
const ROOMS_PER_NODE = 4;
const CLIENTS = 16;
const WRITERS = 64;
const SENDER = '0199a6f0-0000-7000-8000-0000000000a1';
const ROOM = '0199a6f0-0000-7000-8000-000000000001';
const NODE_ID = '0199a6f0-0000-7000-8000-00000000000a';

/** A deterministic generator, so every run searches the same text. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const SYLLABLES = ['ka', 'lo', 'mi', 'ne', 'ru', 'sa', 'te', 'vo', 'zi', 'pa', 'do', 'fu'];
const VOCABULARY = Array.from({ length: 5000 }, (_, i) => {
  let word = '';
  for (let n = i + 1; n > 0; n = Math.floor(n / SYLLABLES.length))
    word += SYLLABLES[n % SYLLABLES.length];
  return word;
});

/** Word index with P(i) roughly proportional to 1/(i+1). */
function zipf(rand: () => number): string {
  const i = Math.floor(Math.exp(rand() * Math.log(VOCABULARY.length)) - 1);
  return VOCABULARY[Math.min(VOCABULARY.length - 1, Math.max(0, i))] as string;
}

function sentence(rand: () => number): string {
  const length = 6 + Math.floor(rand() * 14);
  return Array.from({ length }, () => zipf(rand)).join(' ');
}

function queryOf(rand: () => number): string {
  const kind = rand();
  // Mid-frequency words: the common few would match most messages, the rarest almost none.
  const word = () => VOCABULARY[20 + Math.floor(rand() * 500)] as string;
  if (kind < 0.5) return word();
  if (kind < 0.8) return `${word()} ${word()}`;
  return `${word().slice(0, 4)}*`;
}

async function searchLatency(full: boolean): Promise<void> {
  const messages = numberArg('messages') ?? (full ? 1_000_000 : 30_000);
  const searches = numberArg('searches') ?? (full ? 3000 : 400);
  const leftovers = new Leftovers();
  try {
    const cluster = await Cluster.start(leftovers, {
      nodes: NODES,
      centralDataFrom: await centralDataTemplate(),
      // The gateway's production default, not the test clusters' 1 s made for failover tests:
      // this measures searches, not how many outlast a short deadline.
      nodeTimeoutMs: 5000,
      // Likewise central's default heartbeat: a node busy with long searches (SQLite runs on its
      // event loop) misses the test clusters' 200 ms beats and is taken OFFLINE.
      heartbeatIntervalMs: 1500,
    });
    const token = cluster.adminToken;
    const rooms = new Map<string, string[]>();
    for (const node of NODES) {
      const ids: string[] = [];
      for (let i = 0; i < ROOMS_PER_NODE; i += 1) {
        const created = await post(
          `${cluster.gatewayUrl}/graphql`,
          'mutation($n: String!, $h: ID, $r: [ID!]) { createRoom(name: $n, homeNodeId: $h, replicaNodeIds: $r) { id } }',
          { n: `search-${node}-${i}`, h: cluster.node(node).id, r: [] },
          { authorization: `Bearer ${token}` },
        );
        ids.push((created['createRoom'] as { id: string }).id);
      }
      rooms.set(node, ids);
    }
    const me = ok(
      await gql<{ me: { id: string } }>(cluster.gatewayUrl, '{ me { id } }', {}, { token }),
    ).me.id;

    // Filled while stopped: the store's own local-post path (index triggers included), in big
    // transactions, instead of a million GraphQL posts.
    const fillStarted = performance.now();
    const rand = random(19);
    for (const [n, node] of NODES.entries()) {
      await cluster.killNode(node, 'SIGTERM');
      const db = openNodeDb(path.join(cluster.dataDir, `${node}.sqlite`));
      try {
        const store = new MessageStore({
          db: db.db,
          clock: new HybridLogicalClock({ nodeId: cluster.node(node).id }),
          events: new MessageEvents(silentLogger),
        });
        const share = Math.floor(messages / NODES.length) + (n < messages % NODES.length ? 1 : 0);
        const ids = rooms.get(node) ?? [];
        for (let done = 0; done < share; ) {
          const batch: LocalWrite[] = [];
          for (; batch.length < 5000 && done < share; done += 1)
            batch.push({
              kind: 'post',
              message: {
                roomId: ids[done % ids.length] as string,
                senderId: me,
                content: sentence(rand),
              },
            });
          store.commitGroup(batch);
        }
      } finally {
        db.close();
      }
      await cluster.startNode(node);
    }
    const fillSeconds = (performance.now() - fillStarted) / 1000;
    await cluster.waitUntilRoutable(NODES);

    const SEARCH =
      'query($q: String!) { searchMessages(query: $q, first: 20) { totalCount edges { cursor node { id content } highlights { snippet } } } }';
    const queries = random(7);
    let partial = 0;
    const codes = new Map<string, number>();
    const once = async () => {
      const answer = await gql(cluster.gatewayUrl, SEARCH, { q: queryOf(queries) }, { token });
      if (answer.errors?.length || !answer.data) partial += 1;
      for (const e of answer.errors ?? []) {
        const code = String(e.extensions?.['code']);
        codes.set(code, (codes.get(code) ?? 0) + 1);
        if (process.env['BENCH_SEARCH_ERRORS']) process.stderr.write(`${e.message}\n`);
      }
    };
    await closedLoop(once, { concurrency: CLIENTS, total: 50 });
    partial = 0;
    codes.clear();
    const figures = await closedLoop(once, { concurrency: CLIENTS, total: searches });
    report({
      name: 'search: searchMessages through the gateway',
      parameters: {
        messages,
        nodes: NODES.length,
        rooms: NODES.length * ROOMS_PER_NODE,
        clients: CLIENTS,
        searches,
        first: 20,
      },
      figures: {
        ...figures,
        answersWithErrors: partial,
        errorCodes: Object.fromEntries(codes),
        fillSeconds: round(fillSeconds, 1),
      },
    });
  } finally {
    await leftovers.dispose();
  }
}

async function indexCost(full: boolean): Promise<void> {
  const total = numberArg('requests') ?? (full ? 20_000 : 3000);
  const repetitions = full ? 5 : 3;
  const dir = mkdtempSync(path.join(tmpdir(), 'switchboard-bench-search-'));
  const runs = { withIndex: [] as number[], withoutIndex: [] as number[] };
  try {
    let file = 0;
    for (let r = 0; r < repetitions; r += 1) {
      for (const side of ['withIndex', 'withoutIndex'] as const) {
        const db = openNodeDb(path.join(dir, `store-${file++}.sqlite`));
        try {
          if (side === 'withoutIndex')
            for (const t of ['insert', 'update', 'delete'])
              db.sqlite.exec(`DROP TRIGGER messages_fts_${t}`);
          const store = new MessageStore({
            db: db.db,
            clock: new HybridLogicalClock({ nodeId: NODE_ID }),
            events: new MessageEvents(silentLogger),
          });
          const writes = new GroupCommit({ store });
          const rand = random(r);
          const once = async () => {
            await writes.post({ roomId: ROOM, senderId: SENDER, content: sentence(rand) });
          };
          await closedLoop(once, { concurrency: WRITERS, total: 200 });
          runs[side].push((await closedLoop(once, { concurrency: WRITERS, total })).rps);
          writes.close();
        } finally {
          db.close();
        }
      }
    }
    const withIndex = median(runs.withIndex);
    const withoutIndex = median(runs.withoutIndex);
    report({
      name: 'search: posts/s of the store with and without the FTS triggers',
      parameters: { writers: WRITERS, postsPerRun: total, repetitions },
      figures: {
        withIndexPostsPerSecond: withIndex,
        withoutIndexPostsPerSecond: withoutIndex,
        indexCostPercent: round((1 - withIndex / withoutIndex) * 100, 1),
      },
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run({ full }: { full: boolean }): Promise<void> {
  const only = process.argv.find((arg) => arg === 'latency' || arg === 'writes');
  if (only !== 'writes') await searchLatency(full);
  if (only !== 'latency') await indexCost(full);
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
