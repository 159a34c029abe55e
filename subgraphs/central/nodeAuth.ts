// Authenticating a node by its X-Node-API-Key: the key's SHA-256 is looked up, then compared in
// constant time; a rotated key no longer matches any row and fails at once.
import type { IncomingMessage } from 'node:http';
import { and, eq } from 'drizzle-orm';
import { hashApiKey, NODE_KEY_HEADER, sameDigest } from '../../lib/nodeKeys.ts';
import type { CentralDatabase } from './db/open.ts';
import { activeNode, nodes, type NodeRow } from './db/schema.ts';

export async function authenticateNode(
  db: CentralDatabase,
  req: IncomingMessage,
): Promise<NodeRow | null> {
  const header = req.headers[NODE_KEY_HEADER];
  const key = Array.isArray(header) ? header[0] : header;
  if (!key || key.length > 512) return null;
  const digest = hashApiKey(key);
  const [node] = await db
    .select()
    .from(nodes)
    .where(and(eq(nodes.apiKeyHash, digest), activeNode));
  return node && sameDigest(node.apiKeyHash, digest) ? node : null;
}
