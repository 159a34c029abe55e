// searchMessages on one node: the rooms the gateway chose for this node, each checked for the
// caller again here (a node never trusts a room list to be readable), searched in this node's
// full-text index. The gateway merges several nodes' pages with the same cursors.
import { appError } from '../../../lib/errors.ts';
import { MAX_SEARCH_PAGE, MAX_SEARCH_ROOMS, parseSearch } from '../../../lib/searchQuery.ts';
import type { QueryResolvers } from '../__generated__/resolvers-types.ts';
import { requireRoomAccess, requireViewer } from '../context.ts';
import { decodeSearchCursor, encodeSearchCursor } from '../messageSearch.ts';
import * as validate from '../validation.ts';

export const searchMessages: NonNullable<QueryResolvers['searchMessages']> = async (
  _root,
  args,
  ctx,
) => {
  requireViewer(ctx);
  const parsed = parseSearch(args.query);
  const first = args.first ?? 20;
  if (!Number.isInteger(first) || first < 1 || first > MAX_SEARCH_PAGE)
    throw appError(
      'BAD_USER_INPUT',
      `first must be between 1 and ${MAX_SEARCH_PAGE}, got ${first}`,
    );
  const position = args.after == null ? undefined : decodeSearchCursor(args.after);
  if (!args.roomIds)
    throw appError('BAD_USER_INPUT', 'roomIds is required on a node: the gateway chooses rooms');
  const roomIds = [...new Set(args.roomIds.map((id) => validate.id(id, 'roomIds')))];
  if (roomIds.length > MAX_SEARCH_ROOMS)
    throw appError('BAD_USER_INPUT', `at most ${MAX_SEARCH_ROOMS} rooms per search`);
  if (parsed.from.length > 0 && !args.senderIds)
    throw appError('BAD_USER_INPUT', 'from: filters are resolved by the gateway');
  for (const roomId of roomIds) await requireRoomAccess(ctx, roomId, 'read');
  const page = ctx.search.search({
    terms: parsed.terms,
    roomIds,
    senderIds: args.senderIds?.map((id) => validate.id(id, 'senderIds')),
    before: parsed.before,
    after: parsed.after,
    position,
    limit: first,
  });
  const edges = page.hits.flatMap((hit) => {
    const row = ctx.store.get(hit.id);
    if (!row) return [];
    return [
      {
        cursor: encodeSearchCursor(hit),
        node: row,
        score: hit.score,
        highlights: [{ field: 'content', snippet: hit.snippet, matches: [...hit.matches] }],
      },
    ];
  });
  return {
    edges,
    totalCount: page.totalCount,
    pageInfo: {
      hasNextPage: page.hasNextPage,
      hasPreviousPage: position !== undefined,
      startCursor: edges[0]?.cursor ?? null,
      endCursor: edges.at(-1)?.cursor ?? null,
    },
  };
};
