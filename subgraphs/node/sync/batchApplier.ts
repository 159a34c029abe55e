// Applies one examined batch from a source: writer rights judged per version inside the
// transaction, the valid versions written, the refused ones quarantined, quarantined versions a
// newer valid one replaced released, and the cursors of the batch's rooms moved to its
// `nextAfter`, all in ONE SQLite transaction. Shared by the scheduled sessions (pullSession.ts)
// and the live streams (liveReplicator.ts), which differ only in what they do with the result.
import type {
  AppliedChange,
  ChangeBatch,
  QuarantinedVersion,
  WireVersion,
} from '../../../lib/syncProtocol.ts';
import type { NodeDb, NodeQueryable } from '../db/open.ts';
import type { MessageStore, RemoteVersion } from '../messageStore.ts';
import { saveCursor } from './cursors.ts';
import { Quarantine, type Refusal } from './quarantine.ts';
import type { RefusedVersion } from './validateBatch.ts';
import type { SendersWord, WriterRights } from './writerRights.ts';

export interface BatchToApply {
  readonly sourceNodeId: string;
  /** The rooms whose cursors move to the batch's `nextAfter`. */
  readonly roomIds: readonly string[];
  readonly batch: ChangeBatch;
  /** The versions examineChangeBatch refused: quarantined with the batch. */
  readonly refused: readonly RefusedVersion[];
  /** Central's word on the batch's new messages (WriterRights.learn). */
  readonly senders: SendersWord;
  readonly writers: WriterRights;
  /** The source's log was reset: the cursors are set to `nextAfter` even if that is lower. */
  readonly resetCursor?: boolean;
  /** When the source sent the batch (its `sentAt`): the versions' `lastSyncAttempt` here. */
  readonly sentAt?: number;
  /** Runs last inside the transaction, with what the batch changed (the live outbox). */
  readonly inTransaction?: (tx: NodeQueryable, outcome: AppliedBatch) => void;
}

export interface AppliedBatch {
  /** The versions that changed this node, in the order written. */
  readonly applied: readonly AppliedChange[];
  /** The refusals newly kept aside (a replayed refusal is not counted again). */
  readonly quarantined: readonly QuarantinedVersion[];
  /** Messages whose quarantined versions from this source a valid newer one replaced. */
  readonly released: readonly string[];
  /** Every version refused in this batch (also replays): none of them is held here. */
  readonly refusedIds: ReadonlySet<string>;
  /** The source seqs of those refusals: the source is told of them (it marks them FAILED). */
  readonly refusedSeqs: readonly number[];
}

export class BatchApplier {
  readonly #store: MessageStore;
  readonly #quarantine: Quarantine;
  readonly #now: () => number;

  constructor(db: NodeDb, store: MessageStore, now: () => number = Date.now) {
    this.#store = store;
    this.#quarantine = new Quarantine(db);
    this.#now = now;
  }

  /** Applies the batch whole or not at all; throws what SQLite (or a hook) threw. */
  apply(input: BatchToApply): AppliedBatch {
    const { batch, sourceNodeId: source, writers, senders } = input;
    const byId = new Map(batch.versions.map((version) => [version.id, version]));
    const refusals: Refusal[] = input.refused.map((r) => ({
      messageId: r.messageId,
      roomId: r.roomId,
      hlc: r.hlc,
      seq: r.seq,
      reason: r.reason,
      json: r.json,
      ...(r.deferUntil === undefined ? {} : { deferUntil: r.deferUntil }),
    }));
    const versions: RemoteVersion[] = batch.versions.map(toRemote);
    let outcome: AppliedBatch | undefined;
    const at = this.#now();
    this.#store.applyRemote(versions, {
      // examineChangeBatch checked every version (hash, tombstone, clock) before this.
      checked: true,
      receivedFrom: source,
      ...(input.sentAt === undefined ? {} : { sentAt: input.sentAt }),
      admit: (version, held) => {
        const wire = byId.get(version.id);
        if (!wire) return undefined;
        const reason = writers.judge(wire, held, senders);
        if (reason !== undefined) {
          refusals.push({
            messageId: wire.id,
            roomId: wire.roomId,
            hlc: wire.hlc,
            seq: wire.seq,
            reason,
            json: JSON.stringify(wire),
          });
        }
        return reason;
      },
      inTransaction: (tx, result) => {
        saveCursor(
          tx,
          source,
          input.roomIds,
          batch.nextAfter,
          new Date(this.#now()),
          input.resetCursor === true,
        );
        const applied: AppliedChange[] = [];
        for (const { version, op } of result.written) {
          const wire = byId.get(version.id);
          if (wire) applied.push(appliedChange(wire, op));
        }
        const released = this.#quarantine.release(
          source,
          applied.map((change) => ({
            messageId: change.messageId,
            seq: byId.get(change.messageId)?.seq ?? 0,
          })),
        );
        refusals.sort((x, y) => x.seq - y.seq);
        const quarantined = this.#quarantine.keep(source, refusals, at);
        outcome = {
          applied,
          quarantined,
          released,
          refusedIds: new Set(refusals.map((r) => r.messageId)),
          refusedSeqs: refusals.filter((r) => r.deferUntil === undefined).map((r) => r.seq),
        };
        input.inTransaction?.(tx, outcome);
      },
    });
    if (!outcome) throw new Error('unreachable: the batch committed without its outcome');
    return outcome;
  }
}

function toRemote(v: WireVersion): RemoteVersion {
  return {
    id: v.id,
    roomId: v.roomId,
    senderId: v.senderId,
    content: v.content,
    contentHash: v.contentHash,
    createdAt: new Date(v.createdAt),
    updatedAt: new Date(v.updatedAt),
    deletedAt: v.deletedAt === null ? null : new Date(v.deletedAt),
    hlc: v.hlc,
    originNode: v.originNode,
  };
}

function appliedChange(version: WireVersion, op: string): AppliedChange {
  return {
    messageId: version.id,
    roomId: version.roomId,
    senderId: version.senderId,
    contentHash: version.contentHash,
    originNode: version.originNode,
    createdAt: version.createdAt,
    updatedAt: version.updatedAt,
    deleted: version.deletedAt !== null,
    hlc: version.hlc,
    action: op === 'create' ? 'CREATE' : version.deletedAt !== null ? 'DELETE' : 'UPDATE',
  };
}

/**
 * The source's time of the batch, if it sent a plausible one: a time beyond what this node's
 * clock allows a version's HLC is not believed (the node's own time is kept instead).
 */
export function sentAtOf(body: unknown, latest: number): number | undefined {
  const sentAt = (body as { sentAt?: unknown } | null)?.sentAt;
  return typeof sentAt === 'number' &&
    Number.isSafeInteger(sentAt) &&
    sentAt > 0 &&
    sentAt <= latest
    ? sentAt
    : undefined;
}
