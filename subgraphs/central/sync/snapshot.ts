// A sync session as it travels in events (JSON, possibly through Postgres NOTIFY): dates as
// epoch milliseconds, turned back into a row for the resolvers. The session's rooms stay out:
// up to a thousand ids would not fit in a NOTIFY payload (8000 bytes), and no subscriber needs
// them.
import { z } from 'zod';
import {
  syncStatusEnum,
  syncTriggerEnum,
  syncTypeEnum,
  type SyncSessionRow,
} from '../db/schema.ts';

type Travelling = Omit<SyncSessionRow, 'roomIds'>;

export type SyncSessionSnapshot = {
  readonly [K in keyof Travelling]: Travelling[K] extends Date
    ? number
    : Travelling[K] extends Date | null
      ? number | null
      : Travelling[K];
};

const count = z.number().int();
const optionalCount = count.nullable();
const epochMs = z.number().int();
const text = z.string();

/**
 * How another central's snapshot is read off the event bus (events.ts). `satisfies`: a column
 * added to sync_sessions fails the build until the schema reads it.
 */
export const SyncSessionSnapshotSchema = z
  .object({
    id: text,
    sourceNodeId: text,
    targetNodeId: text,
    status: z.enum(syncStatusEnum.enumValues),
    syncType: z.enum(syncTypeEnum.enumValues),
    trigger: z.enum(syncTriggerEnum.enumValues),
    messagesSynced: count,
    messagesChecked: count,
    messagesTotal: optionalCount,
    startedAt: epochMs,
    dispatchedAt: epochMs.nullable(),
    completedAt: epochMs.nullable(),
    error: text.nullable(),
    cursorBefore: optionalCount,
    cursorAfter: optionalCount,
    digestsMatch: z.boolean().nullable(),
    messagesQuarantined: count,
    entriesRefused: count,
    liveReportSeq: optionalCount,
    // A central of an earlier release sends none (rolling upgrade): not known, as before.
    reportSeq: optionalCount.default(null),
    ownerInstanceId: text.nullable(),
    updatedAt: epochMs,
  })
  .readonly() satisfies z.ZodType<SyncSessionSnapshot>;

const time = (d: Date | null): number | null => (d === null ? null : d.getTime());
const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export function toSnapshot(row: SyncSessionRow): SyncSessionSnapshot {
  const { roomIds: _rooms, ...rest } = row;
  return {
    ...rest,
    startedAt: row.startedAt.getTime(),
    dispatchedAt: time(row.dispatchedAt),
    completedAt: time(row.completedAt),
    updatedAt: row.updatedAt.getTime(),
  };
}

/** The row for resolvers; `roomIds` is not carried (null), and nothing that resolves reads it. */
export function fromSnapshot(snapshot: SyncSessionSnapshot): SyncSessionRow {
  return {
    ...snapshot,
    roomIds: null,
    startedAt: new Date(snapshot.startedAt),
    dispatchedAt: date(snapshot.dispatchedAt),
    completedAt: date(snapshot.completedAt),
    updatedAt: new Date(snapshot.updatedAt),
  };
}
