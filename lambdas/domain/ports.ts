import type { NotificationFrame, StreamPosition } from '../../protocol/frames.js';
import type { Target } from '../../protocol/records.js';
import type { DeadLetter } from './fanout/dead-letters.js';
import type { LedgerClaim, LedgerEntry, LedgerHandover, NotificationCounts } from './fanout/delivery-ledger.js';
import type { DeliveryJob, NextClaim, ShardCounts, ShardKey, ShardRequest, ShardState } from './fanout/shard-plan.js';
import type { InboxMarkResult, InboxPage, InboxPageRequest } from './inbox-state.js';
import type { Connection, ConnectionRef, ConnectionSummary, UserPresence } from './model.js';

/**
 * Ports the domain talks to. Adapters live in `lambdas/adapters/<technology>/` and are
 * named port + technology (`DynamoDbConnectionStore`). Every method is a key or index
 * access: no port needs a table scan.
 */

export interface ConnectionStore {
  /**
   * Stores a new connection, its subscriptions (`connection.channels`) and the user's
   * presence entry in one atomic step.
   * @throws ConnectionLimitError when the user already holds `limit` connections that are
   *   still live; entries of connections that are gone from the store or whose lastSeenAt
   *   is before `staleBefore` are removed first (the counter heals without `$disconnect`).
   */
  open(connection: Connection, options: { readonly limit: number; readonly staleBefore: string }): Promise<void>;

  /** The connection, read strongly consistent, or undefined. */
  get(connectionId: string): Promise<Connection | undefined>;

  /**
   * Removes the connection, all its subscriptions and its presence entry. Idempotent.
   * @returns the removed connection, or undefined when it was already gone.
   */
  remove(connectionId: string): Promise<Connection | undefined>;

  /** The user's open connections (user index). */
  listByUser(userId: string): Promise<ConnectionRef[]>;

  /** Every connection, page by page (activity index, queried per shard). */
  listAll(): AsyncIterable<ConnectionSummary[]>;

  /** Connections whose lastSeenAt is before `cutoff` (ISO), page by page. */
  listIdleSince(cutoff: string): AsyncIterable<ConnectionSummary[]>;

  /**
   * Moves the connection's tokenExpiresAt to `expiresAt` (ISO) in one conditional write,
   * only when the connection is the user's and the stored expiry is absent or earlier.
   * `not-later` carries the stored expiry; `unknown`: no such connection of the user.
   */
  extendToken(
    connectionId: string,
    userId: string,
    expiresAt: string,
  ): Promise<{ readonly status: 'extended' } | { readonly status: 'not-later'; readonly current: string } | { readonly status: 'unknown' }>;

  /** Connections whose tokenExpiresAt is before `cutoff` (ISO), page by page (token-expiry index). */
  listTokenExpiredBefore(cutoff: string): AsyncIterable<ConnectionRef[]>;
}

export interface SubscriptionStore {
  /**
   * Adds channels to the connection.
   * @returns every channel the connection now holds.
   * @throws ConnectionNotFoundError when the connection is gone.
   */
  subscribe(ref: ConnectionRef, channels: readonly string[]): Promise<string[]>;

  /** Removes channels from the connection. @returns every channel it still holds. */
  unsubscribe(connectionId: string, channels: readonly string[]): Promise<string[]>;

  /** The channel's subscribers, page by page, without reading any connection item. */
  listSubscribers(channel: string): AsyncIterable<ConnectionRef[]>;
}

export interface PresenceStore {
  /** Presence per user id; users with no entry are absent from the map. */
  getPresence(userIds: readonly string[]): Promise<Map<string, UserPresence>>;

  /**
   * Presence per user id with the channels the user's connections hold, for the presence
   * privacy check: the users' entries, then the items of at most `connectionsPerUser` of
   * each user's connections (in connection id order), all by key. Users with no entry are
   * absent; a connection listed but gone adds no channel.
   */
  getPresenceWithChannels(userIds: readonly string[], options: { readonly connectionsPerUser: number }): Promise<Map<string, UserPresenceWithChannels>>;
}

/**
 * Who is in each presence channel (protocol section 9): one entry per user, with the
 * connections of that user holding the channel. Each call is a conditional change of
 * that one entry, so concurrent joins and leaves of one user from several connections
 * report exactly one `joined` when the first connection enters and one `left` when the
 * last leaves. Repeating a call for the same connection changes nothing.
 */
export interface PresenceChannelStore {
  /** Adds the connection to its user's entry; `at` becomes `joinedAt` when the user was not in. */
  join(channel: string, ref: ConnectionRef, at: string): Promise<MemberChange>;

  /** Removes the connection from its user's entry; the entry goes with the last one. */
  leave(channel: string, ref: ConnectionRef): Promise<MemberChange>;

  /** The channel's member count and, unless there are more than `limit`, its members. */
  members(channel: string, limit: number): Promise<ChannelMembers>;
}

/**
 * What one join or leave changed: `transition` when the user entered or left the
 * channel, then with the channel's members (users, not connections) after it.
 */
export type MemberChange = { readonly transition: false } | { readonly transition: true; readonly count: number };

export interface ChannelMember {
  readonly userId: string;
  readonly connections: number;
  readonly joinedAt: string;
}

export interface ChannelMembers {
  readonly count: number;
  /** Empty when `truncated`. */
  readonly members: readonly ChannelMember[];
  readonly truncated: boolean;
}

/** A user's presence and every channel their (read) connections hold. */
export interface UserPresenceWithChannels extends UserPresence {
  readonly channels: ReadonlySet<string>;
}

/** One notification as kept for `recover`. */
export interface StoredNotification {
  readonly messageId: string;
  /** ISO; the envelope timestamp, set when the service accepted the record. */
  readonly acceptedAt: string;
  readonly frame: NotificationFrame;
  /** Epoch ms its run took its stream offset (the clock the head was given); absent on items written without. */
  readonly takenAtMs?: number;
}

/** A stream's head: the position its latest notification took, and when (epoch ms). */
export interface StreamHead extends StreamPosition {
  readonly takenAtMs: number;
}

/** A stored notification with its place in its stream. */
export interface PositionedNotification extends StoredNotification {
  readonly offset: number;
  /** Epoch ms the item expires (history_ttl after it was stored). */
  readonly expiresAtMs: number;
}

/** What `readFrom` found of one stream, from an offset on. */
export interface StreamSlice {
  /** Kept items, oldest first; expired ones are left out. */
  readonly notifications: readonly PositionedNotification[];
  /** Offsets in the same range that will never hold a notification (tombstones). */
  readonly skipped: ReadonlySet<number>;
}

/** Per-user inboxes and per-channel (and broadcast) history, kept `history_ttl`. */
export interface NotificationLog {
  /**
   * Keeps the notification on each stream (idempotent for the same position). The
   * messageId -> acceptedAt lookup is the ledger's entry (DeliveryLedger.begin).
   */
  append(notification: StoredNotification, streams: readonly Target[], ttlSeconds: number): Promise<void>;

  /** When the service accepted `messageId`, if it is still kept. */
  acceptedAt(messageId: string): Promise<string | undefined>;

  /**
   * Notifications on any of `streams` accepted at or after `since` (ISO; inclusive, so
   * two messages accepted in the same millisecond are never skipped: callers drop the
   * one they asked from), oldest first by (acceptedAt, messageId), at most `limit`,
   * each message once. `truncated` is true when more were left.
   */
  readSince(streams: readonly Target[], since: string, limit: number): Promise<{ notifications: StoredNotification[]; truncated: boolean }>;

  /**
   * Takes the stream's next offset: one atomic update of its head (docs/protocol.md
   * section 11). A head that expired (history_ttl without traffic) starts a new epoch.
   */
  takeOffset(stream: string, nowMs: number, ttlSeconds: number): Promise<StreamPosition>;

  /** The heads of `streams`; a stream never written (or whose head expired) is left out. */
  heads(streams: readonly string[], nowMs: number): Promise<Map<string, StreamHead>>;

  /** Marks an offset that will never hold a notification (a duplicate or a released run took it). */
  skip(stream: string, position: StreamPosition, ttlSeconds: number): Promise<void>;

  /**
   * Gives back an offset that will never hold a notification: the head moves back when it
   * still stands there (no later offset was taken: one conditional write), else the offset
   * gets a tombstone ({@link skip}). Either way no client sees a head ahead of what is kept.
   */
  giveBack(stream: string, position: StreamPosition, ttlSeconds: number): Promise<void>;

  /** Items of `epoch` at or after `fromOffset`, oldest first, at most `limit`, and the tombstones from there on. */
  readFrom(stream: string, epoch: string, fromOffset: number, limit: number, nowMs: number): Promise<StreamSlice>;

  /**
   * The stream position each message's ledger entry holds (eventually consistent):
   * `null` for an entry without one, absent for a message without an entry. A stream
   * item at another position than its entry's is a duplicate's leftover, on its way out.
   */
  placesOf(messageIds: readonly string[]): Promise<Map<string, StreamPosition | null>>;
}

/** Posts frames to connections and closes them (API Gateway Management API). */
/** Per-call options of {@link MessageSender.post}. */
export interface PostOptions {
  /**
   * This attempt's deadline in ms from now; the sender uses the least of this and its own
   * request timeout. A value <= 0 means: do not send at all (throw TransientError, the
   * post never left).
   * @default - the sender's own request timeout
   */
  readonly timeoutMs?: number;
}

export interface MessageSender {
  /**
   * Posts `data` to the connection.
   * @throws ConnectionGoneError (410).
   * @throws ThrottledError (429).
   * @throws TransientError (5xx answered, or the request never left: refused, DNS,
   *   connect timeout, no socket); another post cannot deliver twice.
   * @throws PostInDoubtError (the request may have been written: timeout after writing
   *   began, reset/EPIPE after writing began, answer cut short); never post it again.
   */
  post(connectionId: string, data: string, options?: PostOptions): Promise<void>;
  /**
   * Closes the socket; a connection that is already gone is not an error. Closing is
   * idempotent, so an unknown outcome is retried or thrown as TransientError, never as
   * PostInDoubtError.
   */
  close(connectionId: string): Promise<void>;
}

/** Arranges for `welcome` to reach a connection just after `$connect` returns. */
export interface WelcomeScheduler {
  schedule(connectionId: string): Promise<void>;
}

/** What a heartbeat records, in the same write that spends its token. */
export interface HeartbeatActivity {
  /** When it arrived (ISO): the connection's lastSeenAt from now on. */
  readonly at: string;
  /**
   * The activity index's copy of lastSeenAt (what cleanup lists by) moves to `at` only
   * when it is before this (ISO): each move costs two index writes.
   */
  readonly indexIfBefore: string;
  /**
   * Told what the read the heartbeat needs anyway found of the connection: its user and
   * channels, for the answer's stream heads, so the answer needs no read of its own.
   */
  readonly read?: (connection: { readonly userId: string; readonly channels: readonly string[] }) => void;
}

/** Per-connection token bucket for client frames. */
export interface RateLimiter {
  /**
   * Takes one token; false when the bucket is empty, and then nothing is recorded. With
   * `heartbeat`, the write that takes the token records the heartbeat too.
   * @throws ConnectionNotFoundError for a heartbeat of a connection the store does not know.
   */
  tryTake(connectionId: string, nowMs: number, heartbeat?: HeartbeatActivity): Promise<boolean>;
}

export interface Clock {
  now(): Date;
}

/** Structured logging, satisfied by Powertools Logger; the domain never formats log lines. */
export interface Log {
  debug(message: string, ...attributes: Record<string, unknown>[]): void;
  info(message: string, ...attributes: Record<string, unknown>[]): void;
  warn(message: string, ...attributes: Record<string, unknown>[]): void;
  error(message: string, ...attributes: Record<string, unknown>[]): void;
}

/**
 * The fan-out's ledger: per messageId, the duplicate check and in-progress marker
 * ({@link LedgerEntry}), kept `history_ttl`. Its entry also answers when a message was
 * accepted (`NotificationLog.acceptedAt` reads it).
 */
export interface DeliveryLedger {
  /**
   * At once: claims `messageId` for `claim.owner` (a conditional write: no entry yet) and
   * keeps the notification on each stream (as NotificationLog.append), so that it is
   * recoverable before the first post, in one round trip.
   * @returns undefined when this call claimed it; otherwise the entry as it stands (its
   *   owner is `claim.owner` when an earlier attempt of this same call claimed it), and
   *   the stream items this call wrote are removed again unless they are the entry's own.
   */
  begin(notification: StoredNotification, streams: readonly Target[], claim: LedgerClaim, ttlSeconds: number): Promise<LedgerEntry | undefined>;

  /** The entry, read strongly consistent, or undefined. */
  get(messageId: string): Promise<LedgerEntry | undefined>;

  /**
   * Takes over an entry still `posting` whose lease ended before `nowMs`.
   * @returns the entry as it now stands, owned by `claim.owner`; undefined when it is done,
   *   gone, or another owner's lease still holds.
   */
  takeOver(messageId: string, claim: LedgerClaim, nowMs: number): Promise<LedgerEntry | undefined>;

  /** Extends `owner`'s lease. False when another run owns the entry now. */
  extend(messageId: string, owner: string, leaseUntilMs: number): Promise<boolean>;

  /**
   * Ends `owner`'s lease now, so that a retry takes the entry over at once; with
   * `handover`, what this run did (its counts) and the connection ids it never attempted,
   * for the takeover to post. False when another run owns the entry now.
   */
  giveUp(messageId: string, owner: string, handover?: LedgerHandover): Promise<boolean>;

  /** Marks it done with its counts. False when another run owns the entry now. */
  finish(messageId: string, owner: string, counts: NotificationCounts): Promise<boolean>;

  /**
   * Gives a claim up when nothing was posted (a store failed before the first post): the
   * entry and the stream items `begin` wrote go, so that the redelivery starts afresh.
   * Idempotent. When another run owns the entry, its items stay, and so does this run's
   * item if the entry keeps the notification at the same place.
   * @returns true when the notification's place (its offset) is free again.
   */
  release(notification: StoredNotification, streams: readonly Target[], owner: string): Promise<boolean>;
}

/**
 * Wall-clock time left to the current invocation (a Lambda context's
 * `getRemainingTimeInMillis`); retries and waits stop before it runs out.
 */
export interface TimeBudget {
  remainingMs(): number;
}

/**
 * The durable state of large deliveries (issue 4): one job per messageId, its audience
 * split into shards, each shard's progress. Every write is conditional, so that two
 * invocations working on one shard can never both post the same part of it.
 */
export interface DeliveryProgressStore {
  /** The job planned for `messageId`, if any. */
  getJob(messageId: string): Promise<DeliveryJob | undefined>;

  /**
   * Stores the shards, then the job. The job's write is conditional: when a job for the
   * same messageId exists already, nothing of this plan is used.
   * @returns false when another plan won; read it with getJob.
   */
  createJob(job: DeliveryJob, shards: readonly (readonly ConnectionRef[])[], ttlSeconds: number): Promise<boolean>;

  /** One shard with its targets (workers), or undefined. */
  getShard(key: ShardKey): Promise<ShardState | undefined>;

  /** The progress of every shard of a job, without their targets, in shard order. */
  listShards(job: DeliveryJob): Promise<ShardState[]>;

  /**
   * Takes the shard's lease for `owner` until `leaseUntilMs` when nobody holds it (the
   * last lease ended before `nowMs`) or `owner` does already.
   * @returns the shard as it now stands, or undefined when another owner holds it or it is done.
   */
  acquire(key: ShardKey, owner: string, leaseUntilMs: number, nowMs: number): Promise<ShardState | undefined>;

  /**
   * acquire and claim in one write, for a run that expects the shard as planned or left
   * clean (`cursor = claimedUntil = from`): takes the lease and claims `[from, until)`.
   * @returns the shard as it now stands (with its targets when `withTargets`), or
   *   undefined when the shard is not in that state or not free: acquire tells which.
   */
  acquireAndClaim(
    key: ShardKey,
    owner: string,
    leaseUntilMs: number,
    nowMs: number,
    from: number,
    until: number,
    withTargets: boolean,
  ): Promise<ShardState | undefined>;

  /**
   * Marks `[from, until)` as being posted and extends `owner`'s lease to `leaseUntilMs`.
   * False when the shard moved on or changed owner.
   */
  claim(key: ShardKey, owner: string, from: number, until: number, leaseUntilMs: number): Promise<boolean>;

  /**
   * Records the claimed `[from, until)` as posted, with what became of it; `done` when
   * `until` is the shard's end. With `next` (never with `done`), claims
   * `[until, next.until)` in the same write, as claim would. False as for claim.
   */
  complete(key: ShardKey, owner: string, from: number, until: number, counts: ShardCounts, done: boolean, next?: NextClaim): Promise<boolean>;

  /**
   * Gives up a claim an earlier owner left unfinished (it crashed mid-range): the range
   * is skipped and counted `inDoubt`, since any of its posts may have reached its socket.
   */
  abandon(key: ShardKey, owner: string, from: number, until: number): Promise<boolean>;

  /**
   * Moves `owner`'s lease to `leaseUntilMs` (a chunk that takes longer than expected).
   * False when another owner took the shard, or it is done.
   */
  extend(key: ShardKey, owner: string, leaseUntilMs: number): Promise<boolean>;

  /** Ends `owner`'s lease so that the next invocation need not wait for it to expire. */
  release(key: ShardKey, owner: string): Promise<void>;
}

/** Starts a worker invocation for one shard (an asynchronous Lambda invoke). */
export interface ShardDispatcher {
  dispatch(request: ShardRequest): Promise<void>;
}

/** Where what cannot be delivered goes, for an operator to see (the on-failure queue). */
export interface DeadLetterSink {
  send(letters: readonly DeadLetter[]): Promise<void>;
}

/**
 * A user's inbox (protocol section 10): the notifications sent to the user (the
 * NotificationLog's `user#` stream) with one read state shared by all the user's devices.
 * `unreadCount` is exact: it is computed from the same state as the items listed, and a
 * change of state is a conditional write, so concurrent markRead calls cannot lose one
 * another and the notification path writes nothing for it.
 */
export interface InboxStore {
  /** A page, newest first, with the unread count judged by the same read state. */
  list(userId: string, request: InboxPageRequest): Promise<InboxPage>;

  /** The user's unread items, now. */
  unreadCount(userId: string): Promise<number>;

  /**
   * Marks the user's items with these messageIds (or all) read. Ids unknown, someone
   * else's or already read change nothing.
   * @throws TransientError when concurrent changes kept it from settling.
   */
  markRead(userId: string, target: readonly string[] | 'all'): Promise<InboxMarkResult>;
}
