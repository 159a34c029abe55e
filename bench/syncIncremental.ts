// Incremental sync cost against size (issue 9, item 2): 100 new messages synced INCREMENTAL from A
// to B when both already hold N messages (0, 100,000 and 1,000,000; quick: 0, 1,000, 3,000).
// Timed from sending `triggerSync(B, INCREMENTAL)` to central's `completedAt` of the A -> B
// session. One cluster per size (central's index holds N too, as it would), all running at once,
// so the sizes alternate within every round; several rounds, medians.
// The 100 messages are written into A's file by A's own store from this process (while A runs),
// so no change notification starts a sync behind the benchmark's back; B has `syncEnabled` off.
// `node --import tsx bench/syncIncremental.ts [--full] [--repetitions=N] [--sizes=0,10000,50000]`
import { databaseFile } from '../subgraphs/node/server.ts';
import { Leftovers } from '../tests/helpers/leftovers.ts';
import { median, numberArg, report, round } from './lib.ts';
import {
  BenchCluster,
  copyPrepared,
  preparePair,
  seedMessages,
  syncedState,
  type PreparedPair,
} from './syncSetup.ts';

const NEW_MESSAGES = 100;

interface SizeState {
  readonly size: number;
  readonly pair: PreparedPair;
  readonly cluster: BenchCluster;
  written: number;
}

/** Writes 100 new messages on A, syncs them to B; returns trigger -> completedAt in ms. */
async function incremental(state: SizeState): Promise<number> {
  const { pair, cluster } = state;
  seedMessages(databaseFile(cluster.dataDir, 'node-a'), {
    nodeId: pair.a.id,
    roomIds: pair.roomIds,
    senderId: pair.senderId,
    count: NEW_MESSAGES,
    from: pair.count + state.written,
  });
  state.written += NEW_MESSAGES;
  const { sentAt, sessions } = await cluster.trigger(pair.b.id, 'INCREMENTAL');
  const session = sessions.find(
    (s) => s.sourceNode.id === pair.a.id && s.targetNode.id === pair.b.id,
  );
  if (!session) throw new Error(`triggerSync made no A -> B session: ${JSON.stringify(sessions)}`);
  const done = await cluster.finished(session.id, 20);
  if (done.messagesSynced !== NEW_MESSAGES)
    throw new Error(`A -> B synced ${done.messagesSynced} versions, not ${NEW_MESSAGES}`);
  // The reverse session (A pulls B's newly applied rows and keeps none) ends before the next round.
  await cluster.idle();
  return Date.parse(done.completedAt ?? '') - sentAt;
}

export async function run({ full }: { full: boolean }): Promise<void> {
  const listed = process.argv.find((arg) => arg.startsWith('--sizes='))?.slice('--sizes='.length);
  const sizes = listed
    ? listed.split(',').map(Number)
    : full
      ? [0, 100_000, 1_000_000]
      : [0, 1_000, 3_000];
  const rounds = numberArg('repetitions') ?? (full ? 7 : 4);
  const leftovers = new Leftovers();
  try {
    const states: SizeState[] = [];
    for (const size of sizes) {
      const pair = await preparePair(leftovers, size);
      // Where B already holds everything (a FULL sync of the same size ran in this process, e.g.
      // the throughput benchmark's), start from there; otherwise sync it FULL first.
      const kept = await syncedState(leftovers, pair);
      const since = Date.now();
      const cluster = await BenchCluster.start(
        leftovers,
        kept ?? (await copyPrepared(leftovers, pair)),
      );
      // B runs without live streams: it would pull A's changes the moment it connects, and the
      // session measured here would find nothing left to do.
      await Promise.all([
        cluster.startNode(pair.a),
        cluster.startNode(pair.b, { SWITCHBOARD_LIVE_REPLICATION: 'false' }),
      ]);
      await cluster.attached(pair.b.id, since);
      await cluster.idle();
      if (kept === undefined) {
        await cluster.trigger(pair.b.id, 'FULL');
        await cluster.idle();
      }
      // Whatever the FULL sync's reverse session left (A pulling B's applied rows) ends here.
      await cluster.trigger(pair.b.id, 'INCREMENTAL');
      await cluster.idle();
      states.push({ size, pair, cluster, written: 0 });
    }
    // The first sync after a node starts does more (e.g. A's feed has no acknowledgement mark in
    // memory yet): measured apart, not among the rounds.
    const first = new Map<number, number>();
    for (const state of states) first.set(state.size, await incremental(state));
    const times = new Map<number, number[]>(sizes.map((size) => [size, []]));
    for (let r = 0; r < rounds; r++) {
      // Rotate the order of the sizes so none always runs first.
      for (let i = 0; i < states.length; i++) {
        const state = states[(i + r) % states.length] as SizeState;
        times.get(state.size)?.push(await incremental(state));
      }
    }
    const medians = new Map(sizes.map((size) => [size, median(times.get(size) ?? [])]));
    const empty = medians.get(sizes[0] as number) ?? Number.NaN;
    const largest = medians.get(sizes.at(-1) as number) ?? Number.NaN;
    report({
      name: 'sync: incremental cost vs size',
      parameters: { newMessages: NEW_MESSAGES, sizes, rounds, rooms: 100 },
      figures: {
        ...Object.fromEntries(
          sizes.map((size) => [
            `held${size}`,
            {
              medianMs: medians.get(size),
              runsMs: times.get(size),
              firstAfterStartMs: first.get(size),
            },
          ]),
        ),
        ratioLargestToEmpty: round(largest / empty),
        target: `held${sizes.at(-1)} <= 2x held${sizes[0]}`,
        met: largest <= 2 * empty,
      },
    });
    for (const state of states) await state.cluster.stop();
  } finally {
    await leftovers.dispose();
  }
}

if (import.meta.url === `file://${process.argv[1]}`)
  await run({ full: process.argv.includes('--full') });
