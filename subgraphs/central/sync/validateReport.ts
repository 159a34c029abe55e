// Checks a SyncReport body before anything is written: every problem is named with its path, so
// a node with a bug (or an impostor) learns exactly what was refused.
import {
  MAX_APPLIED_PER_REPORT,
  type AppliedChange,
  type HeldVersion,
  type QuarantinedVersion,
  type SyncAction,
  type SyncReport,
} from '../../../lib/syncProtocol.ts';
import { UUID } from '../../../lib/ids.ts';

export class InvalidSyncReportError extends Error {
  override readonly name = 'InvalidSyncReportError';
}

const MAX_ID = 128;
const MAX_ERROR = 2000;
const SHA256 = /^[0-9a-f]{64}$/;
const STATUSES = new Set(['IN_PROGRESS', 'COMPLETED', 'FAILED']);
const ACTIONS = new Set<string>(['CREATE', 'UPDATE', 'DELETE'] satisfies SyncAction[]);

type Obj = Record<string, unknown>;

function fail(path: string, rule: string): never {
  throw new InvalidSyncReportError(`${path} ${rule}`);
}

function isObject(value: unknown): value is Obj {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function count(obj: Obj, key: string, path: string): number {
  const value = obj[key];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0)
    fail(`${path}${key}`, `must be a non-negative integer, got ${JSON.stringify(value)}`);
  return value;
}

function optionalCount(obj: Obj, key: string, path: string): number | undefined {
  return obj[key] === undefined || obj[key] === null ? undefined : count(obj, key, path);
}

function id(obj: Obj, key: string, path: string): string {
  const value = obj[key];
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID)
    fail(`${path}${key}`, `must be a string of 1-${MAX_ID} characters`);
  return value;
}

function appliedChange(value: unknown, path: string): AppliedChange {
  const version = heldVersion(value, path);
  const action = (value as Obj)['action'];
  if (typeof action !== 'string' || !ACTIONS.has(action))
    fail(`${path}.action`, `must be one of ${[...ACTIONS].join(', ')}`);
  return { ...version, action: action as SyncAction };
}

function heldVersion(value: unknown, path: string): HeldVersion {
  if (!isObject(value)) fail(path, 'must be an object');
  const prefix = `${path}.`;
  const contentHash = value['contentHash'];
  if (typeof contentHash !== 'string' || !SHA256.test(contentHash))
    fail(`${prefix}contentHash`, 'must be a lowercase hex SHA-256 (64 characters)');
  if (typeof value['deleted'] !== 'boolean') fail(`${prefix}deleted`, 'must be a boolean');
  const hlc = value['hlc'];
  if (hlc !== undefined && (typeof hlc !== 'string' || hlc.length === 0 || hlc.length > MAX_ID))
    fail(`${prefix}hlc`, `must be a string of 1-${MAX_ID} characters when present`);
  const change: HeldVersion = {
    messageId: id(value, 'messageId', prefix),
    roomId: id(value, 'roomId', prefix),
    senderId: id(value, 'senderId', prefix),
    contentHash,
    originNode: id(value, 'originNode', prefix),
    createdAt: count(value, 'createdAt', prefix),
    updatedAt: count(value, 'updatedAt', prefix),
    deleted: value['deleted'],
    ...(hlc === undefined ? {} : { hlc }),
  };
  return change;
}

function quarantinedVersion(value: unknown, path: string): QuarantinedVersion {
  if (!isObject(value)) fail(path, 'must be an object');
  const prefix = `${path}.`;
  const hlc = value['hlc'];
  if (typeof hlc !== 'string' || hlc.length === 0 || hlc.length > MAX_ID)
    fail(`${prefix}hlc`, `must be a string of 1-${MAX_ID} characters`);
  const reason = value['reason'];
  if (typeof reason !== 'string' || reason.length === 0)
    fail(`${prefix}reason`, 'must be a non-empty string');
  return {
    messageId: id(value, 'messageId', prefix),
    roomId: id(value, 'roomId', prefix),
    hlc,
    seq: count(value, 'seq', prefix),
    reason: reason.slice(0, MAX_ERROR),
  };
}

function optionalList<T>(
  value: Obj,
  key: string,
  what: string,
  item: (entry: unknown, path: string) => T,
): T[] | undefined {
  const list = value[key];
  if (list === undefined || list === null) return undefined;
  if (!Array.isArray(list)) fail(key, 'must be an array when present');
  if (list.length > MAX_APPLIED_PER_REPORT)
    fail(key, `must hold at most ${MAX_APPLIED_PER_REPORT} ${what} per report`);
  return list.map((entry, i) => item(entry, `${key}[${i}]`));
}

function messageId(value: unknown, path: string): string {
  if (typeof value !== 'string' || value.length === 0 || value.length > MAX_ID)
    fail(path, `must be a message id of 1-${MAX_ID} characters`);
  return value;
}

/**
 * Returns the report typed, or throws InvalidSyncReportError saying what is wrong. Unknown fields
 * are ignored (a newer node may send more); an over-long `error` is cut, not refused, so that a
 * failure report always lands.
 */
export function validateSyncReport(value: unknown): SyncReport {
  if (!isObject(value)) fail('the report', 'must be a JSON object');
  const sessionId = value['sessionId'];
  if (typeof sessionId !== 'string' || !UUID.test(sessionId))
    fail('sessionId', 'must be a session id (UUID)');
  const status = value['status'];
  if (typeof status !== 'string' || !STATUSES.has(status))
    fail('status', `must be one of ${[...STATUSES].join(', ')}`);
  const applied = value['applied'];
  if (!Array.isArray(applied)) fail('applied', 'must be an array');
  if (applied.length > MAX_APPLIED_PER_REPORT)
    fail('applied', `must hold at most ${MAX_APPLIED_PER_REPORT} changes per report`);
  const held = value['held'];
  if (held !== undefined && !Array.isArray(held)) fail('held', 'must be an array when present');
  if (held !== undefined && held.length > MAX_APPLIED_PER_REPORT)
    fail('held', `must hold at most ${MAX_APPLIED_PER_REPORT} versions per report`);
  const digestsMatch = value['digestsMatch'];
  if (digestsMatch !== undefined && digestsMatch !== null && typeof digestsMatch !== 'boolean')
    fail('digestsMatch', 'must be a boolean when present');
  const error = value['error'];
  if (error !== undefined && error !== null && typeof error !== 'string')
    fail('error', 'must be a string when present');
  const resume = value['resume'];
  if (resume !== undefined && resume !== null && typeof resume !== 'boolean')
    fail('resume', 'must be a boolean when present');
  if (resume === true && status !== 'FAILED') fail('resume', 'may only be true with FAILED');
  const quarantined = optionalList(value, 'quarantined', 'versions', quarantinedVersion);
  const released = optionalList(value, 'released', 'message ids', messageId);
  const messagesTotal = optionalCount(value, 'messagesTotal', '');
  const messagesChecked = optionalCount(value, 'messagesChecked', '');
  const sourceHeadSeq = optionalCount(value, 'sourceHeadSeq', '');
  return {
    sessionId: sessionId.toLowerCase(),
    status: status as SyncReport['status'],
    messagesSynced: count(value, 'messagesSynced', ''),
    ...(messagesChecked === undefined ? {} : { messagesChecked }),
    ...(messagesTotal === undefined ? {} : { messagesTotal }),
    applied: applied.map((change, i) => appliedChange(change, `applied[${i}]`)),
    ...(held === undefined ? {} : { held: held.map((v, i) => heldVersion(v, `held[${i}]`)) }),
    cursor: count(value, 'cursor', ''),
    ...(sourceHeadSeq === undefined ? {} : { sourceHeadSeq }),
    ...(typeof digestsMatch === 'boolean' ? { digestsMatch } : {}),
    ...(typeof error === 'string' ? { error: error.slice(0, MAX_ERROR) } : {}),
    ...(resume === true ? { resume } : {}),
    ...(quarantined === undefined ? {} : { quarantined }),
    ...(released === undefined ? {} : { released }),
  };
}
