// The node's own small state (its id at central, ...), kept in the same file as its messages so
// that a restart finds it even while central is down.
import { eq } from 'drizzle-orm';
import type { NodeQueryable } from './open.ts';
import { meta } from './schema.ts';

export const META_NODE_ID = 'node_id';

export function readMeta(db: NodeQueryable, key: string): string | undefined {
  return db.select({ value: meta.value }).from(meta).where(eq(meta.key, key)).get()?.value;
}

export function writeMeta(db: NodeQueryable, key: string, value: string): void {
  db.insert(meta)
    .values({ key, value })
    .onConflictDoUpdate({ target: meta.key, set: { value } })
    .run();
}
