// Validation of a change batch received from a source node, BEFORE anything of it is applied: a
// batch is accepted or refused whole, and the refusal names the first thing wrong, with its place
// (`versions[3].contentHash: ...`), so a FAILED session tells an operator exactly why.
import type { ChangeBatch, WireVersion } from '../../../lib/syncProtocol.ts';
import { decodeHlc, HlcError } from '../hlc.ts';
import { sha256Hex } from '../messageStore.ts';
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

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const SHA256_HEX = /^[0-9a-f]{64}$/;
const MAX_ID_CHARS = 200;

/**
 * Returns the value as a ChangeBatch, or throws InvalidBatchError saying what is wrong: a field
 * missing or of the wrong type, a content hash that is not SHA-256 of the content, a tombstone
 * with content, a malformed HLC, seqs out of order or outside (after, nextAfter], the same
 * message twice, and with `expected`: another source, more versions than asked, a room outside
 * the job, an HLC too far in the future.
 */
export function validateChangeBatch(value: unknown, expected?: BatchExpectations): ChangeBatch {
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

  const rooms = expected ? new Set(expected.roomIds) : undefined;
  const seen = new Set<string>();
  let previousSeq = expected?.after ?? 0;
  const versions = list.map((item: unknown, i): WireVersion => {
    const at = `versions[${i}]`;
    const version = checkVersion(item, at);
    if (version.seq <= previousSeq) {
      fail(`${at}.seq: ${version.seq} is not greater than the previous seq ${previousSeq}`);
    }
    if (version.seq > nextAfter) fail(`${at}.seq: ${version.seq} is beyond nextAfter ${nextAfter}`);
    previousSeq = version.seq;
    if (seen.has(version.id)) fail(`${at}.id: message ${version.id} appears twice in the batch`);
    seen.add(version.id);
    if (rooms && !rooms.has(version.roomId)) {
      fail(`${at}.roomId: room ${version.roomId} is not one of the session's rooms`);
    }
    if (expected) {
      const ahead = decodeHlc(version.hlc).physical - expected.now;
      if (ahead > expected.maxDriftMs) {
        fail(
          `${at}.hlc: ${version.hlc} is ${ahead} ms ahead of this node's clock ` +
            `(at most ${expected.maxDriftMs} ms allowed)`,
        );
      }
    }
    return version;
  });
  return {
    sourceNodeId,
    versions,
    nextAfter,
    headSeq,
    ...(remaining === undefined ? {} : { remaining }),
  };
}

function checkVersion(value: unknown, at: string): WireVersion {
  const v = record(value, at);
  const seq = seqNumber(v['seq'], `${at}.seq`);
  if (seq === 0) fail(`${at}.seq: must be at least 1`);
  const op = v['op'];
  const knownOp = changeOps.find((known) => known === op);
  if (knownOp === undefined) {
    fail(`${at}.op: expected one of ${changeOps.join(', ')}, got ${quote(op)}`);
  }
  const id = v['id'];
  if (typeof id !== 'string' || !UUID.test(id)) {
    fail(`${at}.id: expected a lowercase UUID, got ${quote(id)}`);
  }
  const roomId = idString(v['roomId'], `${at}.roomId`);
  const senderId = idString(v['senderId'], `${at}.senderId`);
  const content = v['content'];
  if (typeof content !== 'string') fail(`${at}.content: expected a string, got ${kind(content)}`);
  const contentHash = v['contentHash'];
  if (typeof contentHash !== 'string' || !SHA256_HEX.test(contentHash)) {
    fail(`${at}.contentHash: expected 64 lowercase hex digits, got ${quote(contentHash)}`);
  }
  if (sha256Hex(content) !== contentHash) {
    fail(`${at}.contentHash: ${contentHash} is not the SHA-256 of the content`);
  }
  const createdAt = epochMs(v['createdAt'], `${at}.createdAt`);
  const updatedAt = epochMs(v['updatedAt'], `${at}.updatedAt`);
  const rawDeletedAt = v['deletedAt'];
  const deletedAt = rawDeletedAt === null ? null : epochMs(rawDeletedAt, `${at}.deletedAt`);
  if (deletedAt !== null && content !== '') {
    fail(`${at}.content: a deleted message (deletedAt set) must have empty content`);
  }
  if (knownOp === 'delete' && deletedAt === null) {
    fail(`${at}.deletedAt: op is delete but deletedAt is null`);
  }
  const hlc = v['hlc'];
  if (typeof hlc !== 'string') fail(`${at}.hlc: expected a string, got ${kind(hlc)}`);
  try {
    decodeHlc(hlc);
  } catch (error) {
    if (error instanceof HlcError) fail(`${at}.hlc: ${error.message}`);
    throw error;
  }
  const originNode = idString(v['originNode'], `${at}.originNode`);
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
