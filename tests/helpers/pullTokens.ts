// Reading a node's sync feed from a test as a peer would: first a pull token from central (asked
// with a node's API key, for rooms both nodes store), then the feed with that token.
import { PULL_TOKEN_HEADER } from '../../lib/pullToken.ts';
import { NODE_KEY_HEADER } from '../../lib/nodeKeys.ts';
import {
  SYNC_DIGESTS_PATH,
  SYNC_PULL_TOKEN_PATH,
  type PullTokenResponse,
  type RoomDigests,
} from '../../lib/syncProtocol.ts';

/** Central's answer to `asker` (by its API key) asking to pull `roomIds` from `sourceNodeId`. */
export async function askPullToken(
  centralUrl: string,
  askerApiKey: string,
  sourceNodeId: string,
  roomIds: readonly string[],
): Promise<{ status: number; body: Partial<PullTokenResponse> & { errors?: unknown[] } }> {
  const response = await fetch(new URL(SYNC_PULL_TOKEN_PATH, centralUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json', [NODE_KEY_HEADER]: askerApiKey },
    body: JSON.stringify({ sourceNodeId, roomIds }),
    signal: AbortSignal.timeout(5000),
  });
  return {
    status: response.status,
    body: (await response.json()) as Partial<PullTokenResponse> & { errors?: unknown[] },
  };
}

export async function pullToken(
  centralUrl: string,
  askerApiKey: string,
  sourceNodeId: string,
  roomIds: readonly string[],
): Promise<string> {
  const { status, body } = await askPullToken(centralUrl, askerApiKey, sourceNodeId, roomIds);
  if (status !== 200 || typeof body.token !== 'string') {
    throw new Error(`central gave no pull token (${status}): ${JSON.stringify(body)}`);
  }
  return body.token;
}

/** `source`'s digests of `roomIds`, asked as `asker`, a peer storing them all. */
export async function feedDigests(
  centralUrl: string,
  source: { readonly id: string; readonly url: string },
  asker: { readonly apiKey: string },
  roomIds: readonly string[],
): Promise<RoomDigests['digests']> {
  const token = await pullToken(centralUrl, asker.apiKey, source.id, roomIds);
  const response = await fetch(`${source.url}${SYNC_DIGESTS_PATH}?rooms=${roomIds.join(',')}`, {
    headers: { [PULL_TOKEN_HEADER]: token },
    signal: AbortSignal.timeout(5000),
  });
  if (response.status !== 200) throw new Error(`digests of ${source.id}: ${response.status}`);
  return ((await response.json()) as RoomDigests).digests;
}
