// Validation of a change batch received from a source node, BEFORE anything of it is applied. A
// fault of the batch itself (its shape, its source, its seqs, its size) refuses it whole: nothing
// of it can be trusted to be what was asked. A fault of one VERSION refuses only that version: it
// is quarantined by the puller (sync/quarantine.ts) while the rest of the batch applies. Every
// refusal names what is wrong, with its place (`versions[3]: ...`, `contentHash: ...`), so a
// FAILED session or a quarantined version tells an operator exactly why.
import { LOWERCASE_UUID } from '../../../lib/ids.ts';
import type { ChangeBatch, WireVersion } from '../../../lib/syncProtocol.ts';
import { illFormedContent, sha256Hex } from '../content.ts';
import { decodeHlc, HlcError } from '../hlc.ts';
import { changeOps } from '../db/schema.ts';

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

const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_ID_CHARS = 200;

/**
 * Splits a batch into the versions that pass and the ones refused, or throws InvalidBatchError
 * when the batch itself is at fault: not an object of the right shape, another source (with
 * `expected`), `nextAfter` below the cursor, more versions than asked, a version that is not an
 * object or has no valid seq, seqs out of order or outside (after, nextAfter], the same message
 * twice. A version is refused for a field missing or of the wrong type, content that is not
 * well-formed Unicode, a content hash that is not SHA-256 of the content, a tombstone with
 * content, a malformed HLC, and with `expected`: a room outside the job. A version whose HLC is
 * too far ahead is refused with `deferUntil`: kept to be applied later, not quarantined.
 */
export function examineChangeBatch(value: unknown, expected?: BatchExpectations): ExaminedBatch {
  const batch = record(value, 'batch');
  const sourceNodeId = idString(batch['sourceNodeId'], 'sourceNodeId');
  const nextAfter = seqNumber(batch['nextAfter'], 'nextAfter');
  const headSeq = seqNumber(batch['headSeq'], 'headSeq');
  if (headSeq < nextAfter) fail(`headSeq ${headSeq} is less than nextAfter ${nextAfter}`);
  const remaining =
    batch['remaining'] === undefined ? undefined : seqNumber(batch['remaining'], 'remaining');
  const list = batch['versions'];
  if (!Array.isArray(list)) fail(`versions: expected an array, got ${kind(list)}`);

  if (expected) {
    if (sourceNodeId !== expected.sourceNodeId) {
      fail(`sourceNodeId: expected ${expected.sourceNodeId}, got ${quote(sourceNodeId)}`);
    }
    if (nextAfter < expected.after) {
      fail(`nextAfter ${nextAfter} is less than the cursor ${expected.after} it was asked after`);
    }
    if (list.length > expected.limit) {
      fail(`versions: ${list.length} versions, but at most ${expected.limit} were asked for`);
    }
  }

  // The batch's own order first: a version is only worth judging in a batch that is what was asked.
  const items: Record<string, unknown>[] = [];
  const seqs: number[] = [];
  const seen = new Set<string>();
  let previousSeq = expected?.after ?? 0;
  for (const [i, item] of (list as unknown[]).entries()) {
    const at = `versions[${i}]`;
    const v = record(item, at);
    const seq = seqNumber(v['seq'], `${at}.seq`);
    if (seq === 0) fail(`${at}.seq: must be at least 1`);
    if (seq <= previousSeq) {
      fail(`${at}.seq: ${seq} is not greater than the previous seq ${previousSeq}`);
    }
    if (seq > nextAfter) fail(`${at}.seq: ${seq} is beyond nextAfter ${nextAfter}`);
    previousSeq = seq;
    const id = v['id'];
    if (typeof id === 'string') {
      if (seen.has(id)) fail(`${at}.id: message ${id} appears twice in the batch`);
      seen.add(id);
    }
    items.push(v);
    seqs.push(seq);
  }

  const rooms = expected ? new Set(expected.roomIds) : undefined;
  const versions: WireVersion[] = [];
  const refused: RefusedVersion[] = [];
  for (const [i, v] of items.entries()) {
    try {
      const version = checkVersion(v, seqs[i]!);
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
            json: JSON.stringify(v),
            deferUntil: physical - expected.maxDriftMs,
          });
          continue;
        }
      }
      versions.push(version);
    } catch (error) {
      if (!(error instanceof InvalidBatchError)) throw error;
      refused.push({
        index: i,
        seq: seqs[i]!,
        messageId: label(v['id']),
        roomId: label(v['roomId']),
        hlc: label(v['hlc']),
        reason: error.message,
        json: JSON.stringify(v),
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
  return typeof value === 'string' ? value.slice(0, MAX_ID_CHARS) : '';
}

/** Checks one version's fields; its seq was checked with the batch. Messages name the field. */
function checkVersion(v: Record<string, unknown>, seq: number): WireVersion {
  const op = v['op'];
  const knownOp = changeOps.find((known) => known === op);
  if (knownOp === undefined) {
    fail(`op: expected one of ${changeOps.join(', ')}, got ${quote(op)}`);
  }
  const id = v['id'];
  if (typeof id !== 'string' || !LOWERCASE_UUID.test(id)) {
    fail(`id: expected a lowercase UUID, got ${quote(id)}`);
  }
  const roomId = idString(v['roomId'], 'roomId');
  const senderId = idString(v['senderId'], 'senderId');
  const content = v['content'];
  if (typeof content !== 'string') fail(`content: expected a string, got ${kind(content)}`);
  const illFormed = illFormedContent(content);
  if (illFormed !== undefined) fail(`content: ${illFormed}`);
  const contentHash = v['contentHash'];
  if (typeof contentHash !== 'string' || !SHA256_HEX.test(contentHash)) {
    fail(`contentHash: expected 64 lowercase hex digits, got ${quote(contentHash)}`);
  }
  if (sha256Hex(content) !== contentHash) {
    fail(`contentHash: ${contentHash} is not the SHA-256 of the content`);
  }
  const createdAt = epochMs(v['createdAt'], 'createdAt');
  const updatedAt = epochMs(v['updatedAt'], 'updatedAt');
  const rawDeletedAt = v['deletedAt'];
  const deletedAt = rawDeletedAt === null ? null : epochMs(rawDeletedAt, 'deletedAt');
  if (deletedAt !== null && content !== '') {
    fail('content: a deleted message (deletedAt set) must have empty content');
  }
  if (knownOp === 'delete' && deletedAt === null) {
    fail('deletedAt: op is delete but deletedAt is null');
  }
  const hlc = v['hlc'];
  if (typeof hlc !== 'string') fail(`hlc: expected a string, got ${kind(hlc)}`);
  try {
    decodeHlc(hlc);
  } catch (error) {
    if (error instanceof HlcError) fail(`hlc: ${error.message}`);
    throw error;
  }
  const originNode = idString(v['originNode'], 'originNode');
  return {
    seq,
    op: knownOp,
    id,
    roomId,
    senderId,
    content,
    contentHash,
    createdAt,
    updatedAt,
    deletedAt,
    hlc,
    originNode,
  };
}

function fail(message: string): never {
  throw new InvalidBatchError(message);
}

function record(value: unknown, at: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`${at}: expected an object, got ${kind(value)}`);
  }
  return value as Record<string, unknown>;
}

function idString(value: unknown, at: string): string {
  if (typeof value !== 'string' || value === '' || value.length > MAX_ID_CHARS) {
    fail(
      `${at}: expected a non-empty string of at most ${MAX_ID_CHARS} characters, got ${quote(value)}`,
    );
  }
  return value;
}

/** A seq, or any other count: a non-negative integer. */
function seqNumber(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${at}: expected a non-negative integer, got ${quote(value)}`);
  }
  return value;
}

function epochMs(value: unknown, at: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    fail(`${at}: expected epoch milliseconds (a non-negative integer), got ${quote(value)}`);
  }
  return value;
}

function kind(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'an object' : typeof value;
}

function quote(value: unknown): string {
  if (typeof value === 'string')
    return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return kind(value);
}
