// A sync session as it travels in events (JSON, possibly through Postgres NOTIFY): dates as
// epoch milliseconds, turned back into a row for the resolvers. The session's rooms stay out:
// up to a thousand ids would not fit in a NOTIFY payload (8000 bytes), and no subscriber needs
// them.
import type { SyncSessionRow } from '../db/schema.ts';

type Travelling = Omit<SyncSessionRow, 'roomIds'>;

export type SyncSessionSnapshot = {
  readonly [K in keyof Travelling]: Travelling[K] extends Date
    ? number
    : Travelling[K] extends Date | null
      ? number | null
      : Travelling[K];
};

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
