// Checks a SyncReport body before anything is written: every problem is named with its path, so
// a node with a bug (or an impostor) learns exactly what was refused. The shapes are zod schemas
// (the entries' in lib/syncProtocol.ts); the rules that tie fields together are code after them.
import { z } from 'zod';
import { UUID } from '../../../lib/ids.ts';
import {
  AppliedChangeSchema,
  HeldVersionSchema,
  MAX_APPLIED_PER_REPORT,
  MAX_REPORT_TEXT_CHARS,
  QuarantinedVersionSchema,
  ReleasedIdSchema,
  type SyncReport,
} from '../../../lib/syncProtocol.ts';
import { describeField } from '../../../lib/wire.ts';

export class InvalidSyncReportError extends Error {
  override readonly name = 'InvalidSyncReportError';
}

/** A list of at most MAX_APPLIED_PER_REPORT `what`; `error` when it is not a list. */
export const boundedList = <T extends z.ZodType>(item: T, what: string, error: string) =>
  z.array(item, { error }).max(MAX_APPLIED_PER_REPORT, {
    error: `must hold at most ${MAX_APPLIED_PER_REPORT} ${what} per report`,
  });

export const reportCount = z
  .number({
    error: (issue) => `must be a non-negative integer, got ${JSON.stringify(issue.input)}`,
  })
  .refine((n) => Number.isSafeInteger(n) && n >= 0, {
    error: (issue) => `must be a non-negative integer, got ${JSON.stringify(issue.input)}`,
  });

/** A count a report may leave out (absent or null). */
export const optionalCount = reportCount.nullish();

const optionalBoolean = z.boolean({ error: 'must be a boolean when present' }).nullish();

/** The lists of quarantined versions and released message ids: older nodes send neither. */
export const quarantineLists = {
  quarantined: boundedList(
    QuarantinedVersionSchema,
    'versions',
    'must be an array when present',
  ).nullish(),
  released: boundedList(ReleasedIdSchema, 'message ids', 'must be an array when present').nullish(),
};

/** The report as it travels. Unknown fields are dropped (a newer node may send more). */
const SyncReportBodySchema = z.object(
  {
    sessionId: z
      .string({ error: 'must be a session id (UUID)' })
      .regex(UUID, { error: 'must be a session id (UUID)' }),
    sequence: reportCount
      .refine((n) => n >= 1, { error: 'must be a positive integer when present' })
      .nullish(),
    status: z.enum(['IN_PROGRESS', 'COMPLETED', 'FAILED'], {
      error: 'must be one of IN_PROGRESS, COMPLETED, FAILED',
    }),
    messagesSynced: reportCount,
    messagesChecked: optionalCount,
    messagesTotal: optionalCount,
    applied: boundedList(AppliedChangeSchema, 'changes', 'must be an array'),
    held: boundedList(HeldVersionSchema, 'versions', 'must be an array when present').optional(),
    cursor: reportCount,
    sourceHeadSeq: optionalCount,
    digestsMatch: optionalBoolean,
    error: z.string({ error: 'must be a string when present' }).nullish(),
    resume: optionalBoolean,
    ...quarantineLists,
  },
  { error: 'must be a JSON object' },
);

/** The value as `schema` reads it, or InvalidSyncReportError naming the first fault's place. */
export function parseReport<S extends z.ZodType>(
  schema: S,
  value: unknown,
  fault: (message: string) => Error = (message) => new InvalidSyncReportError(message),
): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw fault(describeField(result.error.issues[0], 'the report'));
}

/**
 * Returns the report typed, or throws InvalidSyncReportError saying what is wrong. Unknown fields
 * are ignored (a newer node may send more); an over-long `error` is cut, not refused, so that a
 * failure report always lands.
 */
export function validateSyncReport(value: unknown): SyncReport {
  const body = parseReport(SyncReportBodySchema, value);
  if (body.resume === true && body.status !== 'FAILED')
    throw new InvalidSyncReportError('resume may only be true with FAILED');
  const { messagesChecked, messagesTotal, held, sourceHeadSeq, digestsMatch, error } = body;
  const { quarantined, released, sequence } = body;
  return {
    sessionId: body.sessionId.toLowerCase(),
    ...(sequence == null ? {} : { sequence }),
    status: body.status,
    messagesSynced: body.messagesSynced,
    ...(messagesChecked == null ? {} : { messagesChecked }),
    ...(messagesTotal == null ? {} : { messagesTotal }),
    applied: body.applied,
    ...(held === undefined ? {} : { held }),
    cursor: body.cursor,
    ...(sourceHeadSeq == null ? {} : { sourceHeadSeq }),
    ...(digestsMatch == null ? {} : { digestsMatch }),
    ...(error == null ? {} : { error: error.slice(0, MAX_REPORT_TEXT_CHARS) }),
    ...(body.resume === true ? { resume: true } : {}),
    ...(quarantined == null ? {} : { quarantined }),
    ...(released == null ? {} : { released }),
  };
}
