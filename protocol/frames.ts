import * as z from './zod-mini.js';
import { ERROR_CODES, REJECTION_CODES } from './error-codes.js';
import { USER_ID, isValidChannelName } from './channels.js';

/**
 * Every frame of the wire protocol (docs/protocol.md), shared by the handlers, the
 * local runtime, the client SDK and the tests. Inbound schemas strip unknown keys.
 */

export const isoTimestamp = z.iso.datetime({ offset: true });
export const messageId = z.uuid();
const channelName = z.string().check(z.minLength(1), z.maxLength(256));
const userId = z.string().check(z.regex(USER_ID, 'a user id'));

// ---- client -> server -------------------------------------------------------

export const subscribePayload = z.object({
  channels: z.array(channelName).check(z.minLength(1), z.maxLength(100)),
  action: z.optional(z.enum(['subscribe', 'unsubscribe'])),
  connectionId: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
});
export const unsubscribePayload = z.object({
  channels: z.array(channelName).check(z.minLength(1), z.maxLength(100)),
  connectionId: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
});
export const heartbeatPayload = z.object({
  connectionId: z.optional(z.string().check(z.minLength(1), z.maxLength(128))),
  timestamp: z.optional(isoTimestamp),
  status: z.optional(z.literal('alive')),
});
export const presencePayload = z.object({
  userIds: z.array(userId).check(z.minLength(1), z.maxLength(100)),
});
/**
 * A stream's name on the wire (docs/protocol.md section 11): `user#{userId}` (notifications
 * to one user: the inbox), `channel#{name}`, or `broadcast`.
 */
export const STREAM_NAME = /^(?:user#[A-Za-z0-9][A-Za-z0-9._@:+-]{0,127}|channel#[a-z0-9][a-z0-9._:-]{0,127}|broadcast)$/;
export const streamName = z.string().check(z.regex(STREAM_NAME, 'a stream name (user#{id}, channel#{name} or broadcast)'));
/** A place in a stream: everything up to `offset` of `epoch`. Offset 0: nothing seen (any epoch). */
export const streamPosition = z.object({
  epoch: z.string().check(z.maxLength(32)),
  offset: z.int().check(z.minimum(0), z.maximum(Number.MAX_SAFE_INTEGER)),
});
/** Most streams one `recover` may name: the user's, broadcast and `channels.max_per_connection` (at most 100) channels. */
export const MAX_RECOVER_STREAMS = 102;
/** `recover`: from a time or messageId (`since`), or from stream positions (`streams`); exactly one. */
export const recoverPayload = z
  .object({
    since: z.optional(z.union([messageId, isoTimestamp])),
    streams: z.optional(
      // Keys checked by a refine, not a key schema: an error names the field, never echoes a key the client chose.
      z.record(z.string(), streamPosition).check(
        z.refine((streams) => Object.keys(streams).length >= 1 && Object.keys(streams).length <= MAX_RECOVER_STREAMS, `1 to ${MAX_RECOVER_STREAMS} streams`),
        z.refine((streams) => Object.keys(streams).every((name) => STREAM_NAME.test(name)), 'stream names: user#{userId}, channel#{name} or broadcast'),
      ),
    ),
  })
  .check(z.refine((payload) => (payload.since === undefined) !== (payload.streams === undefined), 'give exactly one of since and streams'));
export const statsPayload = z.object({});
/** `members`: who is in a presence channel the connection holds (protocol section 9). */
export const membersPayload = z.object({
  channel: z.string().check(z.maxLength(256), z.refine(isValidChannelName, 'a channel name')),
});
/** A newer token for the connection's own user (docs/protocol.md, `refresh`). */
export const refreshPayload = z.object({
  token: z.string().check(z.minLength(1), z.maxLength(8192)),
});

/** An inbox page's cursor: a `nextCursor` of an earlier answer, opaque to the client. */
export const INBOX_CURSOR = /^[A-Za-z0-9_-]{1,400}$/;
/** `inbox`: a page of the user's inbox, newest first (docs/protocol.md section 10). */
export const inboxPayload = z.object({
  limit: z._default(z.int().check(z.minimum(1), z.maximum(100)), 20),
  before: z.optional(z.string().check(z.regex(INBOX_CURSOR, 'a nextCursor of an earlier inbox answer'))),
  unreadOnly: z._default(z.boolean(), false),
});
/** `markRead`: by ids, or all; never both. */
export const markReadPayload = z.union([
  z.strictObject({ messageIds: z.array(messageId).check(z.minLength(1), z.maxLength(100)) }),
  z.strictObject({ all: z.literal(true) }),
]);

/** Payload schema per client request type (the routes besides $connect/$disconnect/$default). */
export const clientPayloads = {
  subscribe: subscribePayload,
  unsubscribe: unsubscribePayload,
  heartbeat: heartbeatPayload,
  presence: presencePayload,
  recover: recoverPayload,
  stats: statsPayload,
  members: membersPayload,
  refresh: refreshPayload,
  inbox: inboxPayload,
  markRead: markReadPayload,
} as const;
export type ClientRequestType = keyof typeof clientPayloads;
export const CLIENT_REQUEST_TYPES = Object.keys(clientPayloads) as ClientRequestType[];

/** The envelope of any client frame, before its payload is checked against its type. */
export const clientEnvelope = z.object({
  messageId: z.optional(messageId),
  type: z.string().check(z.minLength(1), z.maxLength(64)),
  payload: z._default(z.record(z.string(), z.unknown()), {}),
  timestamp: z.optional(z.string().check(z.maxLength(64))),
});
export type ClientEnvelope = z.infer<typeof clientEnvelope>;

export type ClientPayload<T extends ClientRequestType> = z.infer<(typeof clientPayloads)[T]>;

// ---- server -> client -------------------------------------------------------

export const welcomePayload = z.object({
  connectionId: z.string(),
  userId: z.string(),
  channels: z.array(z.string()),
  heartbeatIntervalSeconds: z.int().check(z.positive()),
  serverTime: isoTimestamp,
  /** When the connection's token expires; `refresh` before then or be disconnected. */
  tokenExpiresAt: z.optional(isoTimestamp),
  /** The user's unread inbox items when the welcome was sent. */
  unreadCount: z.optional(z.int().check(z.minimum(0))),
  /** The head of each stream the connection holds (section 11); left out only when they could not be read. */
  streams: z.optional(z.record(z.string(), streamPosition)),
});
export const subscriptionPayload = z.object({
  connectionId: z.string(),
  channels: z.array(z.string()),
  accepted: z.array(z.string()),
  rejected: z.array(z.object({ channel: z.string(), code: z.enum(REJECTION_CODES), reason: z.string() })),
  /** `subscribe` only: the head of each accepted channel's stream (section 11), where the client starts. */
  streams: z.optional(z.record(z.string(), streamPosition)),
});
export const heartbeatReplyPayload = z.object({
  connectionId: z.string(),
  timestamp: isoTimestamp,
  status: z.literal('alive'),
  /** The head of each stream the connection holds (section 11): a client behind one has missed something. */
  streams: z.optional(z.record(z.string(), streamPosition)),
});
export const notificationPayload = z.object({
  notificationId: z.string().check(z.minLength(1), z.maxLength(128)),
  title: z.string().check(z.minLength(1), z.maxLength(256)),
  message: z.string().check(z.minLength(1), z.maxLength(8192)),
  priority: z.enum(['low', 'medium', 'high', 'urgent']),
  actionUrl: z.optional(z.string().check(z.minLength(1), z.maxLength(2048))),
  createdAt: isoTimestamp,
});
export const presenceReplyPayload = z.object({
  users: z.record(z.string(), z.object({ online: z.boolean(), connections: z.int().check(z.minimum(0)), lastSeenAt: z.optional(isoTimestamp) })),
});
/** Where `recover` by positions left one stream (section 11). */
export const recoveredStream = z.object({
  epoch: z.string(),
  offset: z.int().check(z.minimum(0)),
  /** Some notifications between the asked position and `offset` are no longer kept (expired, or the stream's history was lost). */
  lost: z.optional(z.literal(true)),
  /** The next position is being written right now: ask again after this long. */
  retryAfterMs: z.optional(z.int().check(z.minimum(0))),
});
export const recoveredPayload = z.object({
  count: z.int().check(z.minimum(0)),
  complete: z.boolean(),
  /** `recover` by positions only: every stream asked for that the connection holds. */
  streams: z.optional(z.record(z.string(), recoveredStream)),
});
export const statsReplyPayload = z.object({
  totalConnections: z.int().check(z.minimum(0)),
  uniqueUsers: z.int().check(z.minimum(0)),
  channels: z.record(z.string(), z.int().check(z.minimum(0))),
  generatedAt: isoTimestamp,
});
export const errorPayload = z.object({ code: z.enum(ERROR_CODES), message: z.string() });
/** The answer to `members`: each user once; above `presence_max_members`, the count only. */
export const membersReplyPayload = z.object({
  channel: z.string(),
  count: z.int().check(z.minimum(0)),
  members: z.record(z.string(), z.object({ connections: z.int().check(z.minimum(1)), joinedAt: isoTimestamp })),
  truncated: z.boolean(),
});
/** `join` / `leave`: a user's first connection entered, or their last left, a presence channel. */
export const memberEventPayload = z.object({ channel: z.string(), userId: z.string() });
/** The answer to `refresh`: the connection now lasts until the new token's `exp`. */
export const refreshedPayload = z.object({ expiresAt: isoTimestamp });
/**
 * Sent just before the server closes a connection on purpose (server API
 * `POST /users/{userId}/disconnect`): API Gateway's DeleteConnection carries no close
 * code, so this frame says why. `reconnect: false`: do not reconnect with this token.
 */
export const disconnectPayload = z.object({
  // token-expired (cleanup; reconnect: true, with a fresh token): docs/protocol.md.
  reason: z.enum(['revoked', 'token-expired', 'unregistered']),
  reconnect: z.boolean(),
});

export const inboxReplyPayload = z.object({
  items: z.array(z.object({ messageId: z.string(), timestamp: isoTimestamp, read: z.boolean(), notification: notificationPayload })),
  unreadCount: z.int().check(z.minimum(0)),
  nextCursor: z.optional(z.string()),
});
/** The answer to `markRead`, and pushed to the user's other connections. */
export const inboxStatePayload = z.object({
  unreadCount: z.int().check(z.minimum(0)),
  /** The ids this request changed from unread to read, newest first, at most 1,000. */
  read: z.array(z.string()),
  /** Only when more ids changed than `read` lists (a markRead of all on a large inbox). */
  truncated: z.optional(z.literal(true)),
  /** With `truncated`: every inbox item whose timestamp is earlier than this is read. */
  readUpTo: z.optional(isoTimestamp),
});

const serverBase = {
  messageId: messageId,
  timestamp: isoTimestamp,
  replyTo: z.optional(messageId),
};

export const welcomeFrame = z.object({ ...serverBase, type: z.literal('welcome'), payload: welcomePayload });
export const subscriptionFrame = z.object({ ...serverBase, type: z.literal('subscription'), payload: subscriptionPayload });
export const heartbeatFrame = z.object({ ...serverBase, type: z.literal('heartbeat'), payload: heartbeatReplyPayload });
export const notificationFrame = z.object({
  ...serverBase,
  type: z.literal('notification'),
  payload: notificationPayload,
  targetUserId: z.optional(z.string()),
  channel: z.optional(z.string()),
  broadcast: z.optional(z.literal(true)),
  /** The stream it is on (section 11), its place there, and the stream's epoch. */
  stream: z.optional(z.string()),
  offset: z.optional(z.int().check(z.minimum(1))),
  epoch: z.optional(z.string()),
});
export const presenceFrame = z.object({ ...serverBase, type: z.literal('presence'), payload: presenceReplyPayload });
export const recoveredFrame = z.object({ ...serverBase, type: z.literal('recovered'), payload: recoveredPayload });
export const statsFrame = z.object({ ...serverBase, type: z.literal('stats'), payload: statsReplyPayload });
export const errorFrame = z.object({ ...serverBase, type: z.literal('error'), payload: errorPayload });
export const membersFrame = z.object({ ...serverBase, type: z.literal('members'), payload: membersReplyPayload });
export const joinFrame = z.object({ ...serverBase, type: z.literal('join'), payload: memberEventPayload, channel: z.string() });
export const leaveFrame = z.object({ ...serverBase, type: z.literal('leave'), payload: memberEventPayload, channel: z.string() });
export const refreshedFrame = z.object({ ...serverBase, type: z.literal('refreshed'), payload: refreshedPayload });
export const disconnectFrame = z.object({ ...serverBase, type: z.literal('disconnect'), payload: disconnectPayload });
export const inboxFrame = z.object({ ...serverBase, type: z.literal('inbox'), payload: inboxReplyPayload });
export const inboxStateFrame = z.object({ ...serverBase, type: z.literal('inboxState'), payload: inboxStatePayload });

export const serverFrame = z.discriminatedUnion('type', [
  welcomeFrame,
  subscriptionFrame,
  heartbeatFrame,
  notificationFrame,
  presenceFrame,
  recoveredFrame,
  statsFrame,
  errorFrame,
  membersFrame,
  joinFrame,
  leaveFrame,
  disconnectFrame,
  refreshedFrame,
  inboxFrame,
  inboxStateFrame,
]);

export type WelcomePayload = z.infer<typeof welcomePayload>;
export type SubscriptionPayload = z.infer<typeof subscriptionPayload>;
export type NotificationPayload = z.infer<typeof notificationPayload>;
export type PresenceReplyPayload = z.infer<typeof presenceReplyPayload>;
export type StatsReplyPayload = z.infer<typeof statsReplyPayload>;
export type ErrorPayload = z.infer<typeof errorPayload>;
export type MembersReplyPayload = z.infer<typeof membersReplyPayload>;
export type InboxReplyPayload = z.infer<typeof inboxReplyPayload>;
export type InboxStatePayload = z.infer<typeof inboxStatePayload>;
export type DisconnectPayload = z.infer<typeof disconnectPayload>;
export type NotificationFrame = z.infer<typeof notificationFrame>;
export type StreamPosition = z.infer<typeof streamPosition>;
export type RecoveredPayload = z.infer<typeof recoveredPayload>;
export type RecoveredStream = z.infer<typeof recoveredStream>;
export type HeartbeatReplyPayload = z.infer<typeof heartbeatReplyPayload>;
export type ServerFrame = z.infer<typeof serverFrame>;
export type ServerFrameType = ServerFrame['type'];
