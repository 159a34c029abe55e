// A sync session as it travels in events (JSON, possibly through Postgres NOTIFY): dates as
// epoch milliseconds, turned back into a row for the resolvers.
import type { SyncSessionRow } from '../db/schema.ts';

export type SyncSessionSnapshot = {
  readonly [K in keyof SyncSessionRow]: SyncSessionRow[K] extends Date
    ? number
    : SyncSessionRow[K] extends Date | null
      ? number | null
      : SyncSessionRow[K];
};

const time = (d: Date | null): number | null => (d === null ? null : d.getTime());
const date = (ms: number | null): Date | null => (ms === null ? null : new Date(ms));

export function toSnapshot(row: SyncSessionRow): SyncSessionSnapshot {
  return {
    ...row,
    startedAt: row.startedAt.getTime(),
    dispatchedAt: time(row.dispatchedAt),
    completedAt: time(row.completedAt),
    updatedAt: row.updatedAt.getTime(),
  };
}

export function fromSnapshot(snapshot: SyncSessionSnapshot): SyncSessionRow {
  return {
    ...snapshot,
    startedAt: new Date(snapshot.startedAt),
    dispatchedAt: date(snapshot.dispatchedAt),
    completedAt: date(snapshot.completedAt),
    updatedAt: new Date(snapshot.updatedAt),
  };
}
