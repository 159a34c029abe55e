// Validation of a change batch received from a source node, BEFORE anything of it is applied. A
// fault of the batch itself (its shape, its source, its seqs, its size) refuses it whole: nothing
// of it can be trusted to be what was asked. A fault of one VERSION refuses only that version: it
// is quarantined by the puller (sync/quarantine.ts) while the rest of the batch applies. Every
// refusal names what is wrong, with its place (`versions[3]: ...`, `contentHash: ...`), so a
// FAILED session or a quarantined version tells an operator exactly why.
import type { z } from 'zod';
import {
  ChangeBatchEnvelopeSchema,
  MAX_BATCH_ID_CHARS,
  WireVersionSchema,
  type ChangeBatch,
  type WireVersion,
} from '../../../lib/syncProtocol.ts';
import { issuePlace, quoteValue } from '../../../lib/wire.ts';
import { illFormedContent, sha256Hex } from '../content.ts';
import { decodeHlc, HlcError } from '../hlc.ts';

export class InvalidBatchError extends Error {
  override readonly name = 'InvalidBatchError';
}

/** What the target knows independently of the batch, checked when given. */
export interface BatchExpectations {
  /** The job's source: the batch must say it comes from there. */
  readonly sourceNodeId: string;
  /** The cursor the batch was asked after. */
  readonly after: number;
  /** The `limit` asked for. */
  readonly limit: number;
  /** The job's rooms: a version of any other room is refused. */
  readonly roomIds: readonly string[];
  /** How far ahead of `now` a version's HLC may be. */
  readonly maxDriftMs: number;
  /** The target's wall clock, epoch milliseconds. */
  readonly now: number;
}

/** A version refused on its own; its identifying fields are '' when it had no usable value. */
export interface RefusedVersion {
  /** Its place in the batch. */
  readonly index: number;
  readonly seq: number;
  readonly messageId: string;
  readonly roomId: string;
  readonly hlc: string;
  /** `field: what is wrong`. */
  readonly reason: string;
  /** The version as received (JSON), kept with its quarantine row. */
  readonly json: string;
  /**
   * Set when the only fault is an HLC too far ahead: the time (this node's `now`) from which the
   * version is within the bound. It is deferred, not refused.
   */
  readonly deferUntil?: number;
}

export interface ExaminedBatch {
  /** The batch, with only the versions that passed. */
  readonly batch: ChangeBatch;
  /** In batch order. */
  readonly refused: readonly RefusedVersion[];
}

/** Ends the reason of a version deferred for its clock (not refused). */
export const DEFERRED_SUFFIX = ': deferred until it is within the bound';

/**
 * Splits a batch into the versions that pass and the ones refused, or throws InvalidBatchError
 * when the batch itself is at fault: not an object of the right shape, another source (with
 * `expected`), `nextAfter` below the cursor, more versions than asked, a version that is not an
 * object or has no valid seq, seqs out of order or outside (after, nextAfter], the same message
 * twice. A version is refused for a field missing or of the wrong type, content that is not
 * well-formed Unicode, a content hash that is not SHA-256 of the content, a tombstone with
 * content, a malformed HLC, and with `expected`: a room outside the job. A version whose HLC is
 * too far ahead is refused with `deferUntil`: kept to be applied later, not quarantined.
 *
 * Shapes are ChangeBatchEnvelopeSchema and WireVersionSchema (lib/syncProtocol.ts); what ties
 * fields together (order, hashes, clocks, rooms) is checked here after them.
 */
export function examineChangeBatch(value: unknown, expected?: BatchExpectations): ExaminedBatch {
  const {
    sourceNodeId,
    nextAfter,
    headSeq,
    remaining,
    versions: list,
  } = parse(ChangeBatchEnvelopeSchema, value, 'batch');
  if (headSeq < nextAfter) fail(`headSeq ${headSeq} is less than nextAfter ${nextAfter}`);
  // The versions as received: a refused one is kept as it came.
  const items = (value as { readonly versions: readonly unknown[] }).versions;

  if (expected) {
    if (sourceNodeId !== expected.sourceNodeId) {
      fail(`sourceNodeId: expected ${expected.sourceNodeId}, got ${quoteValue(sourceNodeId)}`);
    }
    if (nextAfter < expected.after) {
      fail(`nextAfter ${nextAfter} is less than the cursor ${expected.after} it was asked after`);
    }
    if (list.length > expected.limit) {
      fail(`versions: ${list.length} versions, but at most ${expected.limit} were asked for`);
    }
  }

  // The batch's own order first: a version is only worth judging in a batch that is what was asked.
  const seen = new Set<string>();
  let previousSeq = expected?.after ?? 0;
  for (const [i, { seq, id }] of list.entries()) {
    const at = `versions[${i}]`;
    if (seq === 0) fail(`${at}.seq: must be at least 1`);
    if (seq <= previousSeq) {
      fail(`${at}.seq: ${seq} is not greater than the previous seq ${previousSeq}`);
    }
    if (seq > nextAfter) fail(`${at}.seq: ${seq} is beyond nextAfter ${nextAfter}`);
    previousSeq = seq;
    if (typeof id === 'string') {
      if (seen.has(id)) fail(`${at}.id: message ${id} appears twice in the batch`);
      seen.add(id);
    }
  }

  const rooms = expected ? new Set(expected.roomIds) : undefined;
  const versions: WireVersion[] = [];
  const refused: RefusedVersion[] = [];
  for (const [i, item] of items.entries()) {
    try {
      const version = checkVersion(item);
      if (rooms && !rooms.has(version.roomId)) {
        fail(`roomId: room ${version.roomId} is not one of the session's rooms`);
      }
      if (expected) {
        const physical = decodeHlc(version.hlc).physical;
        const ahead = physical - expected.now;
        if (ahead > expected.maxDriftMs) {
          // Nothing is wrong with the version but the time: it is kept aside and applied once
          // this node's clock is within the bound of it (sync/quarantine.ts), never dropped.
          refused.push({
            index: i,
            seq: version.seq,
            messageId: version.id,
            roomId: version.roomId,
            hlc: version.hlc,
            reason:
              `hlc: ${version.hlc} is ${ahead} ms ahead of this node's clock ` +
              `(at most ${expected.maxDriftMs} ms allowed)${DEFERRED_SUFFIX}`,
            json: JSON.stringify(item),
            deferUntil: physical - expected.maxDriftMs,
          });
          continue;
        }
      }
      versions.push(version);
    } catch (error) {
      if (!(error instanceof InvalidBatchError)) throw error;
      const v = item as Record<string, unknown>;
      refused.push({
        index: i,
        seq: list[i]!.seq,
        messageId: label(v['id']),
        roomId: label(v['roomId']),
        hlc: label(v['hlc']),
        reason: error.message,
        json: JSON.stringify(item),
      });
    }
  }
  return {
    batch: {
      sourceNodeId,
      versions,
      nextAfter,
      headSeq,
      ...(remaining === undefined ? {} : { remaining }),
    },
    refused,
  };
}

/**
 * The strict form: the batch only if every version in it passes; otherwise throws
 * InvalidBatchError for the first fault, placed (`versions[3].contentHash: ...`).
 */
export function validateChangeBatch(value: unknown, expected?: BatchExpectations): ChangeBatch {
  const { batch, refused } = examineChangeBatch(value, expected);
  const first = refused[0];
  if (first) fail(`versions[${first.index}].${first.reason}`);
  return batch;
}

/** A refused version's id, room or HLC as a quarantine row keeps it: a bounded string, or ''. */
function label(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, MAX_BATCH_ID_CHARS) : '';
}

/** One version, its shape by schema, then what ties its fields together. Messages name the field. */
function checkVersion(item: unknown): WireVersion {
  const version = parse(WireVersionSchema, item);
  const { content, contentHash, deletedAt, hlc } = version;
  const illFormed = illFormedContent(content);
  if (illFormed !== undefined) fail(`content: ${illFormed}`);
  if (sha256Hex(content) !== contentHash) {
    fail(`contentHash: ${contentHash} is not the SHA-256 of the content`);
  }
  if (deletedAt !== null && content !== '') {
    fail('content: a deleted message (deletedAt set) must have empty content');
  }
  if (version.op === 'delete' && deletedAt === null) {
    fail('deletedAt: op is delete but deletedAt is null');
  }
  try {
    decodeHlc(hlc);
  } catch (error) {
    if (error instanceof HlcError) fail(`hlc: ${error.message}`);
    throw error;
  }
  return version;
}

/** The value as `schema` reads it, or InvalidBatchError: `place: what is wrong` (`root` at the root). */
function parse<S extends z.ZodType>(schema: S, value: unknown, root = ''): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const place = issue ? issuePlace(issue.path) : '';
  const at = place === '' ? root : place;
  const message = issue?.message ?? 'invalid';
  return fail(at === '' ? message : `${at}: ${message}`);
}

function fail(message: string): never {
  throw new InvalidBatchError(message);
}
