// Wire shapes and paths of sync, shared by central (the coordinator) and the nodes (which pull
// from each other). The protocol is documented in docs/sync.md. Calls to central carry the calling
// node's API key in X-Node-API-Key; calls to a peer's feed carry a pull token from central
// (lib/pullToken.ts), never the key. Nothing here is reachable through the gateway.
//
// The messages are zod schemas, their types derived from them (`z.infer`), so a reader validates
// exactly what the type promises. Change batches and reports are read in two steps: their shapes
// by the schemas here, then what ties fields together (seq order, content hashes, clocks, scope)
// by their readers (node/sync/validateBatch.ts, central/sync/validateReport.ts), which also judge
// each version on its own (quarantine) and word faults as operators know them.
import { z } from 'zod';
import { MAX_PULL_TOKEN_ROOMS } from './pullToken.ts';
import { LOWERCASE_UUID } from './ids.ts';
import { count, epochMs, httpUrl, kindOf, nonEmptyString, quoteValue, wireObject } from './wire.ts';

const SHA256_HEX = /^[0-9a-f]{64}$/;

/**
 * Central, GET, Server-Sent Events, caller = a node. Central pushes every session in which the
 * caller is the TARGET (the puller) as one `job` event (data: SyncJob). On (re)connect central first
 * fails the caller's sessions left IN_PROGRESS (the node restarted: its work up to the stored
 * cursor is safe) and re-sends its PENDING ones.
 */
export const SYNC_JOBS_PATH = '/internal/sync/jobs';

/** Central, POST SyncReport, caller = the session's target node. Answers SyncReportResponse. */
export const SYNC_REPORT_PATH = '/internal/sync/report';

/**
 * Central, POST RoomsChanged, caller = a node that just committed local writes. Central enqueues
 * CHANGE-triggered INCREMENTAL sessions from the caller to the rooms' other storage nodes
 * (coalesced). Nodes no longer call it (live replication moves changes, see LivePeers); central
 * still takes it from nodes of an older release during a rolling upgrade.
 */
export const SYNC_CHANGED_PATH = '/internal/sync/changed';

/**
 * Central, POST PullRequest -> { sessionIds }, caller = a target node holding versions from the
 * source it deferred for their clock, now within the bound. Central queues a CHANGE-triggered
 * INCREMENTAL session from that source to the caller (coalesced like any other), if the two
 * share a room and the source is ONLINE; otherwise none.
 */
export const SYNC_PULL_REQUEST_PATH = '/internal/sync/pull-request';

/** What a node calls a node or a room in a request body: 1 to 128 characters. */
const requestId = z
  .string({ error: 'must be a string of 1-128 characters' })
  .min(1, { error: 'must be a string of 1-128 characters' })
  .max(128, { error: 'must be a string of 1-128 characters' });

/**
 * A request body to central: an object whose fields are read by their schemas (unknown ones are
 * dropped). Central answers a fault 400 naming its field (`roomIds[2] must be ...`): the messages
 * here read after the field's name.
 */
const requestObject = <T extends z.core.$ZodLooseShape>(shape: T) =>
  z.object(shape, { error: 'must be a JSON object' });

export const PullRequestSchema = requestObject({ sourceNodeId: requestId }).readonly();
export type PullRequest = z.infer<typeof PullRequestSchema>;

/**
 * Central, POST PullTokenRequest -> PullTokenResponse, caller = the target of a pull (by its API
 * key). A token for the rooms both the caller and the source store now (403 FORBIDDEN naming the
 * others); a target renews with it before the token of its job runs out.
 */
export const SYNC_PULL_TOKEN_PATH = '/internal/sync/pull-token';

/**
 * Source node, GET ?after=<seq>&limit=<n>&rooms=<id,id,...>[&ack=<seq>][&refused=<seq,...>][&count=1][&wait=<ms>][&echoes=0]
 * -> ChangeBatch, caller = a peer node with a pull token for exactly these rooms. `ack` (default
 * `after`, at most `after`) acknowledges: every change up to it is held by the caller, so the
 * source may mark those messages SYNCED. A caller asking ahead while it applies the previous batch
 * sends its committed cursor as `ack`. `refused` lists the seqs (at most `ack`, at most
 * MAX_REFUSED_PER_REQUEST) of versions the caller refused and quarantined instead of holding: the
 * source marks them FAILED rather than SYNCED. `wait` (at most MAX_FEED_WAIT_MS) makes it a long
 * poll: when no version of the rooms lies after `after`, the answer waits until one is committed
 * (or the wait ends: an empty batch). `echoes=0` leaves out the versions the source applied from the
 * caller (the caller holds them or newer); `nextAfter` still moves past them. Live streams send it;
 * FULL sessions do not, since they compare and repair everything.
 */
export const SYNC_CHANGES_PATH = '/internal/sync/changes';

/** Most seqs one feed request's `refused` lists; the caller sends the rest with later requests. */
export const MAX_REFUSED_PER_REQUEST = 200;

/** Longest `wait` of SYNC_CHANGES_PATH, in milliseconds. */
export const MAX_FEED_WAIT_MS = 25_000;

/**
 * Central, POST LiveReport -> LiveReportResponse, caller = the target of a live stream. Records a
 * window of live replication (a SyncSession with trigger CHANGE whose id is the window's id) in
 * reports numbered 1, 2, 3... per window: a report whose sequence central already recorded is
 * answered again and records nothing.
 */
export const SYNC_LIVE_REPORT_PATH = '/internal/sync/live-report';

/**
 * Central, POST LiveReports -> LiveReportsResponse, caller = the target of live streams. The next
 * report of each of the caller's windows (any sources, at most one per window) in one request,
 * recorded in one transaction: central's cost per report is mostly per request, so a node sends
 * one a round whatever the number of its sources. Each report is judged on its own (a gap or a
 * window of another node refuses that report only) and answered in `results`, in request order.
 * A central older than it answers 404: the node then sends SYNC_LIVE_REPORT_PATH per report.
 */
export const SYNC_LIVE_REPORTS_PATH = '/internal/sync/live-reports';

/** Most reports one LiveReports carries; a node with more windows sends several requests. */
export const MAX_LIVE_REPORTS_PER_REQUEST = 64;

/**
 * Central, POST AuthorityQuery -> AuthorityAnswer, caller = a node (a session's target) checking
 * that the versions it received were written by someone who could write them: which nodes store
 * each room now, and whether each new message's sender was a member of its room when it was made
 * (with `intervals`, the senders' membership histories too, which the node keeps and reuses).
 */
export const SYNC_AUTHORITY_PATH = '/internal/sync/authority';

/** Source node, GET ?rooms=<id,...> -> RoomDigests, caller = a peer node with a pull token. */
export const SYNC_DIGESTS_PATH = '/internal/sync/digests';

export type SyncType = 'FULL' | 'INCREMENTAL';
export type SyncTrigger = 'SCHEDULE' | 'CHANGE' | 'MANUAL';
export type SyncSessionStatus = 'PENDING' | 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
export type SyncAction = 'CREATE' | 'UPDATE' | 'DELETE';

/** The data of a `job` event of SYNC_JOBS_PATH. */
export const SyncJobSchema = wireObject({
  sessionId: nonEmptyString,
  syncType: z.enum(['FULL', 'INCREMENTAL'], { error: 'expected FULL or INCREMENTAL' }),
  sourceNodeId: nonEmptyString,
  /** For log lines and session errors; absent from a central that predates it. */
  sourceNodeName: z.string({ error: 'expected a string' }).optional(),
  sourceUrl: httpUrl,
  /** The rooms both nodes store: the only ones the target asks for and applies. */
  roomIds: z.array(nonEmptyString, { error: 'expected an array of room ids' }).readonly(),
  batchSize: count,
  /**
   * Shown to the source in PULL_TOKEN_HEADER: signed by central for this source, this target and
   * exactly `roomIds` (lib/pullToken.ts). Renewed through SYNC_PULL_TOKEN_PATH before it expires.
   */
  pullToken: nonEmptyString,
  /** When `pullToken` expires, epoch milliseconds. */
  pullTokenExpiresAt: epochMs,
}).readonly();
export type SyncJob = z.infer<typeof SyncJobSchema>;

/** How log lines and session errors name a job's source: by name, the id after it. */
export function sourceLabel(job: Pick<SyncJob, 'sourceNodeId' | 'sourceNodeName'>): string {
  return job.sourceNodeName ? `${job.sourceNodeName} (${job.sourceNodeId})` : job.sourceNodeId;
}

/** How log lines name a node: "node-a (0190...)", as `sourceLabel` does a job's source. */
export function nodeLabel(node: { readonly name: string; readonly id: string }): string {
  return `${node.name} (${node.id})`;
}

/**
 * Ids that travel in a pull token's comma-separated room list: no commas (a comma would make two
 * room lists digest alike; no id has one, the feed splits on it).
 */
const listedId = requestId.refine((id) => !id.includes(','), { error: 'must not contain a comma' });

export const PullTokenRequestSchema = requestObject({
  sourceNodeId: listedId,
  roomIds: z
    .array(listedId, { error: `must be a list of 1 to ${MAX_PULL_TOKEN_ROOMS} room ids` })
    .min(1, { error: `must be a list of 1 to ${MAX_PULL_TOKEN_ROOMS} room ids` })
    .max(MAX_PULL_TOKEN_ROOMS, { error: `must be a list of 1 to ${MAX_PULL_TOKEN_ROOMS} room ids` })
    .readonly(),
}).readonly();
export type PullTokenRequest = z.infer<typeof PullTokenRequestSchema>;

export const PullTokenResponseSchema = wireObject({
  token: nonEmptyString,
  /** Epoch milliseconds. */
  expiresAt: epochMs,
}).readonly();
export type PullTokenResponse = z.infer<typeof PullTokenResponseSchema>;

/** Most characters of an id (room, sender, node) in a change batch. */
export const MAX_BATCH_ID_CHARS = 200;

/** "<what>, got <the value received>": how a change batch's faults read. */
const got =
  (what: string) =>
  (issue: { readonly input?: unknown }): string =>
    `${what}, got ${quoteValue(issue.input)}`;
const gotKind =
  (what: string) =>
  (issue: { readonly input?: unknown }): string =>
    `${what}, got ${kindOf(issue.input)}`;

const batchId = z
  .string({ error: got(`expected a non-empty string of at most ${MAX_BATCH_ID_CHARS} characters`) })
  .min(1, { error: got(`expected a non-empty string of at most ${MAX_BATCH_ID_CHARS} characters`) })
  .max(MAX_BATCH_ID_CHARS, {
    error: got(`expected a non-empty string of at most ${MAX_BATCH_ID_CHARS} characters`),
  });
/** A seq, or any other count: a non-negative integer. */
const batchSeq = z
  .number({ error: got('expected a non-negative integer') })
  .refine((n) => Number.isSafeInteger(n) && n >= 0, {
    error: got('expected a non-negative integer'),
  });
const batchEpochMs = z
  .number({ error: got('expected epoch milliseconds (a non-negative integer)') })
  .refine((n) => Number.isSafeInteger(n) && n >= 0, {
    error: got('expected epoch milliseconds (a non-negative integer)'),
  });
const batchObject = <T extends z.core.$ZodLooseShape>(shape: T) =>
  z.object(shape, { error: gotKind('expected an object') });

/**
 * One version of a message as it travels; times are epoch milliseconds. The schema checks its
 * fields' types and formats; the reader (node/sync/validateBatch.ts) then checks what ties them
 * together: the content's hash, a tombstone's empty content, the HLC's format and clock.
 */
export const WireVersionSchema = batchObject({
  /** The source's change-log seq of this version. */
  seq: batchSeq,
  op: z.enum(['create', 'update', 'delete'], {
    error: got('expected one of create, update, delete'),
  }),
  id: z
    .string({ error: got('expected a lowercase UUID') })
    .regex(LOWERCASE_UUID, { error: got('expected a lowercase UUID') }),
  roomId: batchId,
  senderId: batchId,
  content: z.string({ error: gotKind('expected a string') }),
  contentHash: z
    .string({ error: got('expected 64 lowercase hex digits') })
    .regex(SHA256_HEX, { error: got('expected 64 lowercase hex digits') }),
  createdAt: batchEpochMs,
  updatedAt: batchEpochMs,
  deletedAt: batchEpochMs.nullable(),
  hlc: z.string({ error: gotKind('expected a string') }),
  originNode: batchId,
});
export type WireVersion = Readonly<z.infer<typeof WireVersionSchema>>;

/**
 * A change batch as far as it must be whole to be judged at all: its source, its seqs, and each
 * version an object with a seq (other fields are judged per version, WireVersionSchema).
 */
export const ChangeBatchEnvelopeSchema = batchObject({
  sourceNodeId: batchId,
  nextAfter: batchSeq,
  headSeq: batchSeq,
  remaining: batchSeq.optional(),
  versions: z.array(batchObject({ seq: batchSeq, id: z.unknown().optional() }), {
    error: gotKind('expected an array'),
  }),
});

export interface ChangeBatch {
  readonly sourceNodeId: string;
  /** Current versions of the changes after `after`, in seq order, at most `limit`. */
  readonly versions: readonly WireVersion[];
  /** The seq to ask after next (the last seq scanned, even if its room was filtered out). */
  readonly nextAfter: number;
  /** The source's newest seq when the batch was read: how far behind the caller is. */
  readonly headSeq: number;
  /**
   * Only when asked with `count=1`: how many messages of the rooms changed after `after`, i.e.
   * how many versions the caller will receive from here (new writes aside).
   */
  readonly remaining?: number;
  /**
   * When the source served this batch, epoch milliseconds on the source's clock: its versions'
   * `lastSyncAttempt`. The target keeps it with every version of the batch it holds, and the
   * source records the same time when the batch is acknowledged, so both copies read the same.
   * Optional: a target takes its own time when a source does not send it.
   */
  readonly sentAt?: number;
}

export const RoomDigestsSchema = wireObject({
  /** roomId -> order-independent digest of (id | hlc | deleted) over the room's messages. */
  digests: z
    .record(z.string(), wireObject({ digest: z.string(), count }).readonly(), {
      error: 'expected an object of room digests',
    })
    .readonly(),
}).readonly();
export type RoomDigests = z.infer<typeof RoomDigestsSchema>;

// The entries of a report, as central reads them: faults read `applied[3].contentHash must be ...`
// (node/sync/validateReport.ts).
const MAX_REPORT_ID_CHARS = 128;
/** Longest `error` and quarantine `reason` central keeps; longer ones are cut, not refused. */
export const MAX_REPORT_TEXT_CHARS = 2000;

const reportId = z
  .string({ error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters` })
  .min(1, { error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters` })
  .max(MAX_REPORT_ID_CHARS, { error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters` });
const reportCount = z
  .number({
    error: (issue) => `must be a non-negative integer, got ${JSON.stringify(issue.input)}`,
  })
  .refine((n) => Number.isSafeInteger(n) && n >= 0, {
    error: (issue) => `must be a non-negative integer, got ${JSON.stringify(issue.input)}`,
  });
const reportObject = <T extends z.core.$ZodLooseShape>(shape: T) =>
  z.object(shape, { error: 'must be an object' });

/** A version a target received and already held: an AppliedChange without an action. */
export const HeldVersionSchema = reportObject({
  messageId: reportId,
  roomId: reportId,
  senderId: reportId,
  contentHash: z
    .string({ error: 'must be a lowercase hex SHA-256 (64 characters)' })
    .regex(SHA256_HEX, { error: 'must be a lowercase hex SHA-256 (64 characters)' }),
  originNode: reportId,
  createdAt: reportCount,
  updatedAt: reportCount,
  deleted: z.boolean({ error: 'must be a boolean' }),
  /**
   * The HLC of the version applied. Optional; when sent, central's index orders versions by it
   * (as the nodes do) instead of by `updatedAt`.
   */
  hlc: z
    .string({ error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters when present` })
    .min(1, { error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters when present` })
    .max(MAX_REPORT_ID_CHARS, {
      error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters when present`,
    })
    .optional(),
});
export type HeldVersion = Readonly<z.infer<typeof HeldVersionSchema>>;

/** What the target applied, for central's index and sync log. */
export const AppliedChangeSchema = HeldVersionSchema.extend({
  action: z.enum(['CREATE', 'UPDATE', 'DELETE'], {
    error: 'must be one of CREATE, UPDATE, DELETE',
  }),
});
export type AppliedChange = Readonly<z.infer<typeof AppliedChangeSchema>>;

/** A message id in a report's `released`. */
export const ReleasedIdSchema = z
  .string({ error: `must be a message id of 1-${MAX_REPORT_ID_CHARS} characters` })
  .min(1, { error: `must be a message id of 1-${MAX_REPORT_ID_CHARS} characters` })
  .max(MAX_REPORT_ID_CHARS, {
    error: `must be a message id of 1-${MAX_REPORT_ID_CHARS} characters`,
  });

/**
 * Most entries of `applied`, and of `held`, one report may carry (central refuses more): a target
 * with more unreported sends several reports.
 */
export const MAX_APPLIED_PER_REPORT = 20_000;

export interface SyncReport {
  readonly sessionId: string;
  /**
   * 1, 2, 3... per session, on every report that carries entries of the target's session outbox;
   * a retry sends the same sequence with the same entries. Central records nothing of a report
   * whose sequence is at or below the last one it recorded (the answer to it was lost): it answers
   * as it would have, with `repeated`. Absent on reports of older nodes, recorded as they come.
   */
  readonly sequence?: number;
  readonly status: 'IN_PROGRESS' | 'COMPLETED' | 'FAILED';
  /** Versions applied (that changed the target), cumulative over the session. */
  readonly messagesSynced: number;
  /**
   * Versions received and examined (applied, already held, or quarantined), cumulative over the
   * session. Optional for reports of older nodes, whose `messagesSynced` counted these: central
   * then takes `messagesSynced`.
   */
  readonly messagesChecked?: number;
  /** Versions the target will examine in the session, once it knows (at least `messagesChecked`). */
  readonly messagesTotal?: number;
  /** Changes applied since the previous report. */
  readonly applied: readonly AppliedChange[];
  /**
   * FULL sessions only: versions received since the previous report that changed nothing here
   * (already held, or lost to the version held). Central adds them to its index, not to the log:
   * a report central never took (it was down) left the index short, and the next FULL repairs it.
   */
  readonly held?: readonly HeldVersion[];
  /** The pair's cursor after this report (the target's stored cursor). */
  readonly cursor: number;
  readonly sourceHeadSeq?: number;
  /** FULL only, with COMPLETED: whether the rooms' digests matched the source's at the end. */
  readonly digestsMatch?: boolean;
  readonly error?: string;
  /**
   * With FAILED only: the target hands the session back. It stopped because central did not take
   * its reports, not because of the source, so central queues the pair's continuation (a new
   * session resuming from the cursor) instead of leaving the pair to the next trigger.
   */
  readonly resume?: boolean;
  /** Versions refused since the previous report: kept aside on the target, never applied. */
  readonly quarantined?: readonly QuarantinedVersion[];
  /** Messages whose quarantined version a newer, valid version replaced since the previous report. */
  readonly released?: readonly string[];
}

/** Most rooms, and most sender checks, one AuthorityQuery may carry (central refuses more). */
export const MAX_AUTHORITY_ROOMS = 1000;
export const MAX_AUTHORITY_SENDERS = 5000;
/** Longest `roomMembersTag` central takes (its own are about 90 characters). */
export const MAX_ROOM_MEMBERS_TAG_CHARS = 200;

// Worded as central's 400 names them after the field: `roomIds[3] must be ...`
// (central/sync/authority.ts).
const authorityId = z
  .string({ error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters` })
  .min(1, { error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters` })
  .max(MAX_REPORT_ID_CHARS, { error: `must be a string of 1-${MAX_REPORT_ID_CHARS} characters` });
/** Any fault of a sender check is the check's, named at its index: one message for all. */
const SENDER_CHECK = 'must be { roomId, userId, at } with at in epoch milliseconds';
const senderCheckId = z
  .string({ error: SENDER_CHECK })
  .min(1, { error: SENDER_CHECK })
  .max(MAX_REPORT_ID_CHARS, { error: SENDER_CHECK });

/** Fields in the order they are judged: the first fault named is the first of these. */
export const AuthorityQuerySchema = z
  .object(
    {
      /**
       * Also answer each asked (room, sender)'s whole membership history (`memberships`, `asOf`,
       * `marginMs`), so that the caller can judge that sender's later messages without asking again.
       */
      intervals: z.boolean({ error: 'must be a boolean when given' }).optional(),
      /**
       * Also answer the whole membership history of every user who ever had a membership in each of
       * `roomIds` (`roomMemberships`, with `asOf` and `marginMs`): what a node holds of its rooms so
       * that it can judge new messages while central cannot be reached.
       */
      roomMembers: z.boolean({ error: 'must be a boolean when given' }).optional(),
      /**
       * With `roomMembers`: the `roomMembersTag` of the caller's last full answer for these rooms.
       * Central answers `roomMembershipsUnchanged` instead of the histories when nothing they
       * depend on changed since (central/sync/roomMembersTags.ts); a tag it did not issue, or too
       * old, gets the full answer. A central that predates tags ignores it.
       */
      roomMembersTag: z
        .string({ error: `must be a string of at most ${MAX_ROOM_MEMBERS_TAG_CHARS} characters` })
        .max(MAX_ROOM_MEMBERS_TAG_CHARS, {
          error: `must be a string of at most ${MAX_ROOM_MEMBERS_TAG_CHARS} characters`,
        })
        .optional(),
      /** Rooms whose storage nodes the caller needs. */
      roomIds: z
        .array(authorityId, {
          error: `must be an array of at most ${MAX_AUTHORITY_ROOMS} room ids`,
        })
        .max(MAX_AUTHORITY_ROOMS, {
          error: `must be an array of at most ${MAX_AUTHORITY_ROOMS} room ids`,
        })
        .readonly(),
      /** Senders of new messages to check: was `userId` a member of `roomId` at `at` (epoch ms)? */
      senders: z
        .array(
          z
            .object(
              {
                roomId: senderCheckId,
                userId: senderCheckId,
                at: z
                  .number({ error: SENDER_CHECK })
                  .refine((n) => Number.isSafeInteger(n) && n >= 0, { error: SENDER_CHECK }),
              },
              { error: SENDER_CHECK },
            )
            .readonly(),
          { error: `must be an array of at most ${MAX_AUTHORITY_SENDERS} checks` },
        )
        .max(MAX_AUTHORITY_SENDERS, {
          error: `must be an array of at most ${MAX_AUTHORITY_SENDERS} checks`,
        })
        .readonly(),
    },
    { error: 'must be a JSON object { roomIds, senders }' },
  )
  .readonly();
export type AuthorityQuery = z.infer<typeof AuthorityQuerySchema>;

/**
 * A range of message times (epoch ms, both ends included) in which a user counts as a member of
 * a room, central's clock margin already applied: a message created at `at` is a member's iff
 * some interval has `from <= at` and (`until` null or `at <= until`).
 */
export const MembershipIntervalSchema = wireObject({
  from: z.number({ error: 'expected epoch milliseconds' }),
  /** null: the user is still a member (as of the answer's `asOf`). */
  until: z.number({ error: 'expected epoch milliseconds or null' }).nullable(),
}).readonly();
export type MembershipInterval = z.infer<typeof MembershipIntervalSchema>;

/** One (room, user)'s membership history as central's writer checks read it. */
export const MembershipHistorySchema = wireObject({
  roomId: z.string({ error: 'expected a string' }),
  userId: z.string({ error: 'expected a string' }),
  /** In order of `from`; empty when the user never was a member (or either does not exist). */
  intervals: z.array(MembershipIntervalSchema, { error: 'expected an array' }).readonly(),
}).readonly();
export type MembershipHistory = z.infer<typeof MembershipHistorySchema>;

const histories = z.array(MembershipHistorySchema, { error: 'expected an array' }).readonly();

/**
 * Central's answer to SYNC_AUTHORITY_PATH. The reader checks what the schema cannot: one entry
 * of `senders` per sender asked, and `asOf` and `marginMs` with any histories.
 */
export const AuthorityAnswerSchema = wireObject({
  /** roomId -> the nodes storing it now (home first); a room central does not know is absent. */
  storageNodes: z
    .record(
      z.string(),
      z.array(z.string({ error: 'expected a node id' }), { error: 'expected an array' }).readonly(),
      { error: 'expected an object of node id lists' },
    )
    .readonly(),
  /** In the order of the query's `senders`: whether that user was a member at that time. */
  senders: z.array(z.boolean({ error: 'expected a boolean' }), { error: 'expected an array' }),
  /** With `intervals`: the history of each distinct (roomId, userId) among `senders`. */
  memberships: histories.optional(),
  /**
   * With `intervals` (epoch ms, central's clock): every join or leave not in `memberships` is
   * stamped after this. So an open interval certainly covers times up to `asOf + marginMs` (a
   * leave now still counts for the margin after it); later times need central again.
   */
  asOf: z.number({ error: 'expected epoch milliseconds' }).optional(),
  /** With `intervals`: the margin central applies around a membership's start and end. */
  marginMs: z.number({ error: 'expected milliseconds' }).optional(),
  /** With `roomMembers`: the history of every user with a membership in an asked room. */
  roomMemberships: histories.optional(),
  /**
   * With `roomMembers`, from a central that tags its answers: what to send back as the query's
   * `roomMembersTag` at the next refresh of the same rooms.
   */
  roomMembersTag: z.string({ error: 'expected a string' }).optional(),
  /**
   * Only in answer to a matching `roomMembersTag` (so never to a caller that sent none): the
   * tagged answer's `roomMemberships` and `storageNodes` still hold, now as of this answer's
   * `asOf`. `roomMemberships` is absent and `storageNodes` empty then.
   */
  roomMembershipsUnchanged: z.literal(true, { error: 'expected true' }).optional(),
}).readonly();
export type AuthorityAnswer = z.infer<typeof AuthorityAnswerSchema>;

/** A version the target refused and kept aside (quarantined) instead of applying, and why. */
export const QuarantinedVersionSchema = reportObject({
  messageId: reportId,
  roomId: reportId,
  hlc: reportId,
  /** The source's change-log seq of the version. */
  seq: reportCount,
  /** Cut to MAX_REPORT_TEXT_CHARS, not refused, when longer. */
  reason: z
    .string({ error: 'must be a non-empty string' })
    .min(1, { error: 'must be a non-empty string' })
    .transform((reason) => reason.slice(0, MAX_REPORT_TEXT_CHARS)),
});
export type QuarantinedVersion = Readonly<z.infer<typeof QuarantinedVersionSchema>>;

export const SyncReportResponseSchema = wireObject({
  /** False when central no longer considers the session running (e.g. it was failed): stop. */
  continue: z.boolean({ error: 'expected a boolean' }),
  /**
   * True when central had recorded the report's sequence already (a retry): nothing was recorded
   * again. Absent from older centrals' answers.
   */
  repeated: z.boolean({ error: 'expected a boolean when present' }).optional(),
}).readonly();
export type SyncReportResponse = z.infer<typeof SyncReportResponseSchema>;

/** Most rooms one RoomsChanged may name. */
export const MAX_CHANGED_ROOMS = 1000;

export const RoomsChangedSchema = requestObject({
  roomIds: z
    .array(requestId, { error: `must be a list of at most ${MAX_CHANGED_ROOMS} room ids` })
    .max(MAX_CHANGED_ROOMS, { error: `must be a list of at most ${MAX_CHANGED_ROOMS} room ids` })
    .readonly(),
}).readonly();
export type RoomsChanged = z.infer<typeof RoomsChangedSchema>;

/**
 * A source a node keeps a live stream open to (sent by central as the `peers` event of the job
 * stream): an ONLINE node it shares rooms with, and a pull token for exactly those rooms.
 */
export const LivePeerSchema = wireObject({
  sourceNodeId: nonEmptyString,
  sourceUrl: httpUrl,
  /** The rooms both nodes store, sorted. */
  roomIds: z
    .array(nonEmptyString, { error: 'expected a non-empty array of room ids' })
    .min(1, { error: 'expected a non-empty array of room ids' })
    .readonly(),
  pullToken: nonEmptyString,
  /** Epoch milliseconds. */
  pullTokenExpiresAt: epochMs,
}).readonly();
export type LivePeer = z.infer<typeof LivePeerSchema>;

/**
 * The `peers` event of SYNC_JOBS_PATH: the complete set of live peers of the node. Sent on every
 * (re)connect and whenever it changes (a room created or placed, a node ONLINE/OFFLINE/registered
 * or moved); a source missing from it has its stream stopped.
 */
export const LivePeersSchema = wireObject({
  peers: z.array(LivePeerSchema, { error: 'expected { "peers": [...] }' }).readonly(),
}).readonly();
export type LivePeers = z.infer<typeof LivePeersSchema>;

/**
 * One report of a live window: what the target applied from the source since the window's
 * previous report. A window is opened by the target at a pair's first change after idle and
 * closed after an idle second or a few thousand versions; its last report has `final: true`.
 */
export interface LiveReport {
  /** The window's id (a UUID the target made): the SyncSession's id at central. */
  readonly windowId: string;
  readonly sourceNodeId: string;
  /** 1, 2, 3... per window; a retry sends the same sequence with the same entries. */
  readonly sequence: number;
  /** The window's last report: central marks the session COMPLETED. */
  readonly final: boolean;
  /** The target's cursor (for the source's rooms) when the window opened. */
  readonly cursorBefore: number;
  /** The target's cursor after the changes of this report. */
  readonly cursor: number;
  readonly sourceHeadSeq: number;
  readonly applied: readonly AppliedChange[];
  readonly quarantined?: readonly QuarantinedVersion[];
  readonly released?: readonly string[];
}

export const LiveReportResponseSchema = wireObject({
  /** False when central had recorded this sequence already (a retry): nothing was recorded again. */
  recorded: z.boolean({ error: 'expected a boolean' }),
}).readonly();
export type LiveReportResponse = z.infer<typeof LiveReportResponseSchema>;

export interface LiveReports {
  readonly reports: readonly LiveReport[];
}

/**
 * A LiveReports as central first reads it: the list, its entries unread. Each entry is then read
 * on its own (central/sync/liveReport.ts): a malformed one is refused in its result and the others
 * are recorded, as a node drops only a refused report (a 400 for the whole request would be
 * retried forever and stop every later report of the node).
 */
export const LiveReportsRequestSchema = requestObject({
  reports: z
    .array(z.unknown(), {
      error: `must be a list of 1 to ${MAX_LIVE_REPORTS_PER_REQUEST} live reports`,
    })
    .min(1, { error: `must be a list of 1 to ${MAX_LIVE_REPORTS_PER_REQUEST} live reports` })
    .max(MAX_LIVE_REPORTS_PER_REQUEST, {
      error: `must be a list of 1 to ${MAX_LIVE_REPORTS_PER_REQUEST} live reports`,
    })
    .readonly(),
}).readonly();

/** What became of one report of a LiveReports: recorded (or a retry), or refused with a code. */
export const LiveReportResultSchema = z.union([
  wireObject({
    windowId: z.string(),
    sequence: z.number(),
    recorded: z.boolean({ error: 'expected a boolean' }),
  }).readonly(),
  wireObject({
    windowId: z.string(),
    sequence: z.number(),
    error: wireObject({ code: z.string(), message: z.string() }).readonly(),
  }).readonly(),
]);
export type LiveReportResult = z.infer<typeof LiveReportResultSchema>;

export const LiveReportsResponseSchema = wireObject({
  results: z.array(LiveReportResultSchema, { error: 'expected { "results": [...] }' }).readonly(),
}).readonly();
export type LiveReportsResponse = z.infer<typeof LiveReportsResponseSchema>;
