import type { ErrorCode, RejectionCode } from './error-codes.js';
import type * as frames from './frames.js';

/**
 * The payloads the client SDK hands to applications, as plain interfaces: the SDK's
 * published declarations name these, so a user of the package needs no zod types. The
 * schemas in frames.ts stay the one source of truth: `SchemaAgreement`, at the end of this
 * file and left out of the published declarations, fails to compile when an interface
 * and the z.infer of its schema differ.
 */

/** The first frame of every connection (protocol section 3). */
export interface WelcomePayload {
  connectionId: string;
  userId: string;
  channels: string[];
  heartbeatIntervalSeconds: number;
  serverTime: string;
  /** When the connection's token expires; `refresh` before then or be disconnected. */
  tokenExpiresAt?: string;
  /** The user's unread inbox items when the welcome was sent. */
  unreadCount?: number;
  /** The head of each stream the connection holds (docs/protocol.md section 11). */
  streams?: Record<string, StreamPosition>;
}

/** A place in a stream: everything up to `offset` of `epoch` (offset 0: nothing yet, any epoch). */
export interface StreamPosition {
  epoch: string;
  offset: number;
}

/** Where `recover` by positions left one stream. */
export interface RecoveredStream {
  epoch: string;
  offset: number;
  /** Some notifications between the asked position and `offset` are no longer kept. */
  lost?: true;
  /** The next position is being written right now: ask again after this long. */
  retryAfterMs?: number;
}

/** The answer to `recover`, after the notifications it replayed. */
export interface RecoveredPayload {
  count: number;
  complete: boolean;
  streams?: Record<string, RecoveredStream>;
}

/** The answer to `heartbeat`. */
export interface HeartbeatReplyPayload {
  connectionId: string;
  timestamp: string;
  status: 'alive';
  streams?: Record<string, StreamPosition>;
}

/** The answer to `subscribe` / `unsubscribe`: what the connection holds now. */
export interface SubscriptionPayload {
  connectionId: string;
  channels: string[];
  accepted: string[];
  rejected: { channel: string; code: RejectionCode; reason: string }[];
  /** `subscribe` only: the head of each accepted channel's stream, where the client starts. */
  streams?: Record<string, StreamPosition>;
}

/** What a producer published (protocol section 6). */
export interface NotificationPayload {
  notificationId: string;
  title: string;
  message: string;
  priority: 'low' | 'medium' | 'high' | 'urgent';
  actionUrl?: string;
  createdAt: string;
}

/** A `notification` frame: the envelope says where it came from and when it was accepted. */
export interface NotificationFrame {
  messageId: string;
  /** When the service accepted it; recovery orders by it. */
  timestamp: string;
  replyTo?: string;
  type: 'notification';
  payload: NotificationPayload;
  /** Set when it was sent to one user. */
  targetUserId?: string;
  /** Set when it was sent to a channel. */
  channel?: string;
  /** Set when it was sent to everyone. */
  broadcast?: true;
  /** The stream it is on: `user#{id}`, `channel#{name}` or `broadcast` (docs/protocol.md section 11). */
  stream?: string;
  /** Its place in the stream: contiguous from 1 within an epoch. */
  offset?: number;
  /** Changes when the stream's history was lost: positions of another epoch do not compare. */
  epoch?: string;
}

/** The answer to `presence`. */
export interface PresenceReplyPayload {
  users: Record<string, { online: boolean; connections: number; lastSeenAt?: string }>;
}

/** The answer to `stats` (role admin). */
export interface StatsReplyPayload {
  totalConnections: number;
  uniqueUsers: number;
  channels: Record<string, number>;
  generatedAt: string;
}

/** The answer to `members`: each user once; above `presence_max_members`, the count only. */
export interface MembersReplyPayload {
  channel: string;
  count: number;
  members: Record<string, { connections: number; joinedAt: string }>;
  truncated: boolean;
}

/** The answer to `inbox`: a page, newest first. */
export interface InboxReplyPayload {
  items: { messageId: string; timestamp: string; read: boolean; notification: NotificationPayload }[];
  unreadCount: number;
  /** Give it as `before` for the next page; absent on the last. */
  nextCursor?: string;
}

/** The answer to `markRead`, also pushed to the user's other connections. */
export interface InboxStatePayload {
  unreadCount: number;
  /** The ids this request changed from unread to read, newest first, at most 1,000. */
  read: string[];
  /** Only when more ids changed than `read` lists (a markRead of all on a large inbox). */
  truncated?: true;
  /** With `truncated`: every inbox item whose timestamp is earlier than this is read. */
  readUpTo?: string;
}

/** Sent just before the server closes a connection on purpose (protocol section 4). */
export interface DisconnectPayload {
  reason: 'revoked' | 'token-expired' | 'unregistered';
  /** False: do not reconnect with this token. */
  reconnect: boolean;
}

/** An `error` frame's payload. */
export interface ErrorPayload {
  code: ErrorCode;
  message: string;
}

/** True when A and B are the same type (not merely assignable one way). */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
type AllTrue<T extends readonly true[]> = T;

/**
 * @internal Compile-time only: each interface above equals the z.infer of its schema.
 * A schema change that the interface does not follow stops `tsc` here. (Stripped from the
 * published declarations, which therefore never import frames.ts or zod.)
 */
export type SchemaAgreement = AllTrue<
  [
    Same<WelcomePayload, frames.WelcomePayload>,
    Same<SubscriptionPayload, frames.SubscriptionPayload>,
    Same<NotificationPayload, frames.NotificationPayload>,
    Same<NotificationFrame, frames.NotificationFrame>,
    Same<PresenceReplyPayload, frames.PresenceReplyPayload>,
    Same<StatsReplyPayload, frames.StatsReplyPayload>,
    Same<MembersReplyPayload, frames.MembersReplyPayload>,
    Same<InboxReplyPayload, frames.InboxReplyPayload>,
    Same<InboxStatePayload, frames.InboxStatePayload>,
    Same<DisconnectPayload, frames.DisconnectPayload>,
    Same<ErrorPayload, frames.ErrorPayload>,
    Same<StreamPosition, frames.StreamPosition>,
    Same<RecoveredPayload, frames.RecoveredPayload>,
    Same<RecoveredStream, frames.RecoveredStream>,
    Same<HeartbeatReplyPayload, frames.HeartbeatReplyPayload>,
  ]
>;
