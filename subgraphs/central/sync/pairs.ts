// "How far behind" per ordered node pair: the pair's cursor against the newest seq of the source
// that central has seen (sessions pulling from the source report it), for every pair of nodes
// that share a room, synced yet or not.
import { inArray } from 'drizzle-orm';
import type { CentralDatabase } from '../db/open.ts';
import { syncSessions, type NodeRow, type SyncSessionRow } from '../db/schema.ts';
import { syncPairs } from '../db/schema.ts';
import { loadTopology } from './topology.ts';

export interface SyncPairView {
  readonly source: NodeRow;
  readonly target: NodeRow;
  readonly behind: number;
  readonly digestsMatch: boolean | null;
  readonly lastSyncAt: Date | null;
  readonly activeSession: SyncSessionRow | null;
}

export async function listSyncPairs(db: CentralDatabase): Promise<SyncPairView[]> {
  const [topology, rows, active] = await Promise.all([
    loadTopology(db),
    db.select().from(syncPairs),
    db
      .select()
      .from(syncSessions)
      .where(inArray(syncSessions.status, ['PENDING', 'IN_PROGRESS'])),
  ]);
  const key = (source: string, target: string) => `${source}>${target}`;
  const stored = new Map(rows.map((r) => [key(r.sourceNodeId, r.targetNodeId), r]));
  const head = new Map<string, number>();
  for (const r of rows)
    head.set(r.sourceNodeId, Math.max(head.get(r.sourceNodeId) ?? 0, r.sourceHeadSeq));
  // A running session says more than a queued one.
  const sessions = new Map<string, SyncSessionRow>();
  for (const s of active) {
    const k = key(s.sourceNodeId, s.targetNodeId);
    if (!sessions.has(k) || s.status === 'IN_PROGRESS') sessions.set(k, s);
  }
  const views: SyncPairView[] = [];
  for (const source of topology.nodes.values()) {
    for (const target of topology.peersOf(source.id)) {
      const pair = stored.get(key(source.id, target.id));
      views.push({
        source,
        target,
        behind: Math.max(0, (head.get(source.id) ?? 0) - (pair?.cursor ?? 0)),
        digestsMatch: pair?.digestsMatch ?? null,
        lastSyncAt: pair?.lastSyncAt ?? null,
        activeSession: sessions.get(key(source.id, target.id)) ?? null,
      });
    }
  }
  return views;
}
