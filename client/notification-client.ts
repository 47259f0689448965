import type * as z from '../protocol/zod-mini.js';
import { formatZodIssues } from '../protocol/zod-issues.js';
import {
  inboxPayload,
  markReadPayload,
  membersPayload,
  presencePayload,
  subscribePayload,
  unsubscribePayload,
  type ClientRequestType,
  type ServerFrame,
} from '../protocol/frames.js';
import type {
  DisconnectPayload,
  InboxReplyPayload,
  InboxStatePayload,
  MembersReplyPayload,
  NotificationFrame,
  PresenceReplyPayload,
  RecoveredPayload,
  StatsReplyPayload,
  StreamPosition,
  SubscriptionPayload,
  WelcomePayload,
} from '../protocol/types.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { CLOSE_CODE, DISCONNECT_REASONS, closeCodeEntry } from './close-codes.js';
import { Connection } from './connection.js';
import {
  Continuity,
  MAX_RECOVER_ROUNDS,
  MAX_RECOVER_STREAMS,
  MAX_RETRY_AFTER_MS,
  isPositioned,
  readPositions,
  type ContinuityLost,
  type Emission,
} from './continuity.js';
import { NotificationClientError } from './errors.js';
import { Emitter } from './events.js';
import { Requests } from './requests.js';
import { Session } from './session.js';
import { refreshDelayMs, tokenExpiry } from './token-expiry.js';
import { resolveWebSocket, type WebSocketConstructor } from './transport.js';

export type ConnectionState = 'idle' | 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface NotificationClientOptions {
  /** The WebSocket endpoint: the stack's `WebSocketUrl`, or `ws://127.0.0.1:8080` locally. */
  readonly url: string;
  /** A token for every connection. Give `getToken` instead when tokens expire. */
  readonly token?: string;
  /**
   * Called before every connection attempt (reconnects and renewals too) for a fresh
   * token, and ahead of the token's expiry to `refresh` the open connection with.
   */
  readonly getToken?: () => string | Promise<string>;
  /**
   * How long before the connection's token expires it is refreshed with a token from
   * `getToken` (never earlier than half its remaining life). The server closes a
   * connection whose token expired. @default 60_000
   */
  readonly refreshBeforeExpiryMs?: number;
  /** Subprotocols to offer. @default none */
  readonly protocols?: readonly string[];
  /** Waits between connection attempts. @default 500 ms doubling up to 30 s, full jitter */
  readonly reconnect?: BackoffOptions;
  /** @default `welcome.heartbeatIntervalSeconds` */
  readonly heartbeatIntervalMs?: number;
  /** A heartbeat unanswered this long means the connection is dead: reconnect. @default 20_000 */
  readonly heartbeatTimeoutMs?: number;
  /**
   * Age at which a connection is replaced by a new one, overlapping the two, before
   * API Gateway's 2-hour cap cuts it. @default 6_600_000 (110 min)
   */
  readonly renewAfterMs?: number;
  /** How long the handshake plus `welcome` may take (welcome is retried for ~9 s server-side). @default 20_000 */
  readonly welcomeTimeoutMs?: number;
  /** How long a sent request waits for its answer. @default 15_000 */
  readonly requestTimeoutMs?: number;
  /**
   * Where each stream starts, e.g. saved by the application: `{ [stream]: { epoch, offset } }`.
   * They override those loaded from `storage`. What is missed after them is recovered at the
   * first welcome (or when the channel is subscribed). @default none: each stream starts at its head
   */
  readonly positions?: Readonly<Record<string, StreamPosition>>;
  /**
   * Where positions are kept across page loads (`sessionStorage` in a browser): read once
   * when the client is made, written ~250 ms after they move and at `close()`.
   * @default none: positions live as long as the client
   */
  readonly storage?: PositionStorage;
  /** The key positions are kept under in `storage`. Use one per user when users switch in one tab. @default 'notifications:positions' */
  readonly storageKey?: string;
  /**
   * Frames without a position only (servers before stream positions, library sends): how
   * many recent messageIds are remembered to drop duplicates. Positioned frames are
   * deduplicated by position, without a bound of this kind. @default 2000
   */
  readonly dedupeCapacity?: number;
  /**
   * A server whose `welcome` carries no stream heads only (before stream positions): how
   * far before the newest notification seen `recover { since }` starts, so one accepted
   * earlier and still on its way at the drop is not missed. @default 60_000
   */
  readonly recoveryOverlapMs?: number;
  /** Channels per subscribe/unsubscribe when restoring after a reconnect (`channels.max_per_request`). @default 20 */
  readonly maxChannelsPerRequest?: number;
  /** @default the global WebSocket, else the `ws` package */
  readonly WebSocket?: WebSocketConstructor;
  /** Where `online` / `offline` events come from. @default the global object in browsers; none in Node */
  readonly networkEvents?: EventTarget | null;
  /** For tests of the jitter. @default Math.random */
  readonly random?: () => number;
}

/** Where positions are saved: the part of the Web Storage API the client uses (`sessionStorage`, `localStorage`). */
export interface PositionStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

export interface StateChange {
  readonly state: ConnectionState;
  readonly previous: ConnectionState;
  /** Why, when a connection was lost or the client gave up. */
  readonly error?: NotificationClientError;
}

export interface RecoveryResult {
  /** Notifications the server replayed (duplicates included; they were dropped). */
  readonly count: number;
  /**
   * True when every stream asked reached the head the server knew. False when recovery
   * stopped short: after 50 rounds (an `error` RECOVERY_INCOMPLETE comes first), or, with a
   * server without positions, when it could not replay everything since `since`. What is
   * lost for good is told by `continuityLost`, not here.
   */
  readonly complete: boolean;
  /** Where each stream asked stands now. Empty with a server without positions. */
  readonly streams: Readonly<Record<string, StreamPosition>>;
  /** A server without positions only: the ISO time `recover { since }` started from. */
  readonly since?: string;
}

export type { ContinuityLost };

/** A user's first connection entered (`join`) or their last left (`leave`) a presence channel. */
export interface MemberEvent {
  readonly channel: string;
  readonly userId: string;
}

/** What `inbox()` asks for (docs/protocol.md section 10). */
export interface InboxOptions {
  /** Items per page, 1..100. @default 20 */
  readonly limit?: number;
  /** The `nextCursor` of an earlier answer: the page after it. @default the newest page */
  readonly before?: string;
  /** Only unread items. @default false */
  readonly unreadOnly?: boolean;
}

export interface NotificationClientEvents {
  /**
   * A notification, once, live or recovered; within a stream in offset order (live ones
   * that arrive ahead of a gap are held until it is filled). Across streams nothing is promised.
   */
  notification: NotificationFrame;
  state: StateChange;
  /** Every new connection's welcome: first connect, reconnects and renewals. */
  welcome: WelcomePayload;
  /**
   * After every reconnect and renewal (with `count: 0` when nothing was missed), and after
   * every recovery a gap or a head started.
   */
  recovered: RecoveryResult;
  /**
   * Notifications of a stream between `from` and `to` are no longer kept by the service
   * (history expired, or the stream's history was lost): they will never be shown. What
   * follows `to` is shown as usual.
   */
  continuityLost: ContinuityLost;
  /** Problems that do not end the client: a failed attempt, an unreadable frame, a rejected resubscription. */
  error: NotificationClientError;
  /**
   * The server is closing the connection on purpose (a `disconnect` frame). With
   * `reconnect: false` (reason `revoked`) the client closes for good: state `closed`
   * with error code DISCONNECTED, no reconnect with this token.
   */
  disconnected: DisconnectPayload;
  /** The open connection's token was refreshed: the server now keeps it until `expiresAt`. */
  refreshed: { readonly expiresAt: string };
  /** Another user's first connection entered a presence channel this client holds. */
  join: MemberEvent;
  /** Another user's last connection left a presence channel this client holds. */
  leave: MemberEvent;
  /**
   * Every `members` answer: those to `members()`, and those the client asks by itself
   * after a reconnect or renewal for each presence channel it restored, so a member
   * list heals from the `join` / `leave` it missed meanwhile.
   */
  members: MembersReplyPayload;
  /** The user's unread inbox count changed (welcome, `inboxState`, an `inbox` answer, a new notification to the user). */
  unread: { readonly count: number };
}

/** Without positions: most notifications one `recover { since }` replays (protocol section 3); a full page means ask again. */
const RECOVER_PAGE_SIZE = 500;
/** Without positions: bounds one recovery, 20 pages of 500. */
const MAX_SINCE_ROUNDS = 20;
/** How long positions may move before they are saved. */
const SAVE_DELAY_MS = 250;
const DEFAULT_STORAGE_KEY = 'notifications:positions';
const DEFAULT_RENEW_AFTER_MS = 110 * 60_000;

/**
 * A client of the notification service that stays connected: it answers `welcome`'s
 * heartbeat interval, reconnects with backoff and a fresh token, restores its
 * channels, replays what it missed through `recover` and drops duplicates, and
 * replaces its connection before API Gateway's 2-hour cap. docs/client.md has the
 * details.
 */
export class NotificationClient {
  readonly #options: NotificationClientOptions;
  readonly #emitter = new Emitter<NotificationClientEvents>();
  readonly #backoff: Backoff;
  readonly #continuity: Continuity<NotificationFrame>;
  /** True while a recovery by positions runs (one at a time; what comes meanwhile joins it). */
  #recovering = false;
  #recoveryRun: Promise<void> | undefined;
  /** The running or next recovery emits `recovered` even if it asks nothing (a reconnect or renewal). */
  #announceRecovery = false;
  /** A recovery hit its round bound: only heads (welcome, heartbeat) start the next. */
  #recoveryStalled = false;
  #recoveryWait: { timer: ReturnType<typeof setTimeout>; resolve: () => void } | undefined;
  /** The continuity version last saved to `storage`. */
  #savedVersion = 0;
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  /**
   * The user stream's head in the last welcome: its notifications up to there are in the
   * welcome's unread count; only those after it are new unread items.
   */
  #unreadBaseline: StreamPosition | undefined;
  #state: ConnectionState = 'idle';
  /** The session in use: its connection is the one requests go through. */
  #current: Session | undefined;
  /** Sessions whose connection is waiting for its welcome. */
  readonly #opening = new Set<Session>();
  /** Sessions being adopted or adopted, until their connection closes (a renewal overlaps two). */
  readonly #sessions = new Set<Session>();
  /** The channels the application wants; the server's answer is authoritative. */
  #channels: string[] | undefined;
  readonly #requests = new Requests();
  #lastSeen: { messageId: string; time: number } | undefined;
  /** Where recovery starts when no notification was seen yet: the first welcome's server time. */
  #sessionStart: string | undefined;
  /**
   * Channels known to be presence channels (a `members` answer or a `join` / `leave`
   * came for them): asked `members` again after each reconnect. The client cannot read
   * the server's configuration, so this is how it learns which channels are.
   */
  readonly #presenceChannels = new Set<string>();
  #unreadCount: number | undefined;
  #everOpened = false;
  #closing = false;
  #online = true;
  #establishing = false;
  #wake: (() => void) | undefined;
  #connected:
    | { promise: Promise<WelcomePayload>; resolve: (welcome: WelcomePayload) => void; reject: (error: NotificationClientError) => void; settled: boolean }
    | undefined;
  #detachNetwork: (() => void) | undefined;

  constructor(options: NotificationClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch {
      throw new NotificationClientError('INVALID_ARGUMENT', `url ${options.url}: not a URL`);
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      throw new NotificationClientError('INVALID_ARGUMENT', `url ${options.url}: must start with ws:// or wss://`);
    }
    if ((options.token === undefined) === (options.getToken === undefined)) {
      throw new NotificationClientError('INVALID_ARGUMENT', 'give exactly one of token and getToken');
    }
    this.#options = options;
    this.#backoff = new Backoff(options.reconnect, options.random);
    const stored = options.storage ? this.#loadPositions(options.storage) : {};
    this.#continuity = new Continuity({
      positions: { ...stored, ...readPositions(options.positions) },
      unpositionedCapacity: options.dedupeCapacity ?? 2000,
    });
  }

  get state(): ConnectionState {
    return this.#state;
  }

  /** The id of the connection in use, when open. */
  get connectionId(): string | undefined {
    return this.#state === 'open' ? this.#current?.connection.connectionId : undefined;
  }

  /** The channels held (and restored after every reconnect). */
  get channels(): readonly string[] {
    return [...(this.#channels ?? [])];
  }

  /** The newest notification seen (by acceptance time). */
  get lastMessageId(): string | undefined {
    return this.#lastSeen?.messageId;
  }

  /** Where each stream stands (a copy): everything up to `offset` of `epoch` was shown or is known lost. */
  get positions(): Record<string, StreamPosition> {
    return this.#continuity.positions();
  }

  /** The user's unread inbox items, as last told by the server and counted since; undefined before the first welcome. */
  get unreadCount(): number | undefined {
    return this.#unreadCount;
  }

  /** Adds a listener; returns the function that removes it. */
  on<K extends keyof NotificationClientEvents>(event: K, listener: (value: NotificationClientEvents[K]) => void): () => void {
    return this.#emitter.on(event, listener);
  }

  off<K extends keyof NotificationClientEvents>(event: K, listener: (value: NotificationClientEvents[K]) => void): void {
    this.#emitter.off(event, listener);
  }

  /**
   * Connects and resolves with the first connection's `welcome`. Refused or lost
   * attempts are retried with backoff; it rejects only when the token is refused
   * (once more after a fresh `getToken`), `getToken` fails, or `close()` is called.
   */
  connect(): Promise<WelcomePayload> {
    if (this.#closing) return Promise.reject(new NotificationClientError('CLOSED', 'this client was closed; create a new one'));
    if (this.#connected) return this.#connected.promise;
    let resolve!: (welcome: WelcomePayload) => void;
    let reject!: (error: NotificationClientError) => void;
    const promise = new Promise<WelcomePayload>((resolvePromise, rejectPromise) => {
      resolve = resolvePromise;
      reject = rejectPromise;
    });
    this.#connected = { promise, resolve, reject, settled: false };
    this.#listenToNetwork();
    this.#setState('connecting');
    this.#startEstablishing();
    return promise;
  }

  /** Adds channels; resolves with the server's `subscription` answer (rejected channels are in it). */
  async subscribe(channels: readonly string[]): Promise<SubscriptionPayload> {
    const payload = checkPayload(subscribePayload, { channels: [...channels] });
    const frame = await this.#request('subscribe', payload, { resend: true });
    return this.#adoptSubscription(frame);
  }

  /** Removes channels; resolves with the server's `subscription` answer. */
  async unsubscribe(channels: readonly string[]): Promise<SubscriptionPayload> {
    const payload = checkPayload(unsubscribePayload, { channels: [...channels] });
    const frame = await this.#request('unsubscribe', payload, { resend: true });
    return this.#adoptSubscription(frame);
  }

  /** Whether users are online, and on how many connections. */
  async presence(userIds: readonly string[]): Promise<PresenceReplyPayload> {
    const payload = checkPayload(presencePayload, { userIds: [...userIds] });
    const frame = await this.#request('presence', payload, { resend: true });
    return frame.payload as PresenceReplyPayload;
  }

  /**
   * Who is in a presence channel this client holds: each user once, with their
   * connection count (rejects with FORBIDDEN for a channel not held or not a presence
   * channel). The answer is also emitted as `members`.
   */
  async members(channel: string): Promise<MembersReplyPayload> {
    const payload = checkPayload(membersPayload, { channel });
    const frame = await this.#request('members', payload, { resend: true });
    return frame.payload as MembersReplyPayload;
  }

  /** A page of the user's inbox, newest first, with read state and the unread count. */
  async inbox(options: InboxOptions = {}): Promise<InboxReplyPayload> {
    const payload = checkPayload(inboxPayload, { ...options });
    const frame = await this.#request('inbox', payload, { resend: true });
    return frame.payload as InboxReplyPayload;
  }

  /**
   * Marks inbox items read, by id or `'all'`; the answer (and the same state pushed to
   * the user's other connections) carries the new unread count. Ids unknown or already
   * read change nothing.
   */
  async markRead(ids: readonly string[] | 'all'): Promise<InboxStatePayload> {
    const value = ids === 'all' ? { all: true } : Array.isArray(ids) ? { messageIds: [...ids] } : { messageIds: ids };
    const payload = checkPayload(markReadPayload, value);
    // Marking read twice changes nothing: safe to send again after a reconnect.
    const frame = await this.#request('markRead', payload, { resend: true });
    return frame.payload as InboxStatePayload;
  }

  /** Connection statistics (role `admin` only, else rejects with FORBIDDEN). */
  async stats(): Promise<StatsReplyPayload> {
    const frame = await this.#request('stats', {}, { resend: true });
    return frame.payload as StatsReplyPayload;
  }

  /** Closes the connection for good: no reconnect; pending requests reject with CLOSED. */
  async close(): Promise<void> {
    this.#shutdown();
  }

  // ---- connecting -------------------------------------------------------------

  #startEstablishing(): void {
    if (this.#establishing || this.#closing) return;
    this.#establishing = true;
    this.#establish()
      // Not expected: every failure inside is handled; if one escapes, end visibly rather than hang.
      .catch((error: unknown) => this.#shutdown(asClientError(error)));
  }

  /**
   * Opens connections until one is adopted. Also used to renew a connection that is
   * still open: then a refused token leaves the open one in place until it ends.
   */
  async #establish(): Promise<void> {
    let authFailures = 0;
    // The flag is cleared in the very step the loop ends (a finally in this function,
    // not a later promise callback): a connection lost right after then starts a new loop.
    try {
      while (!this.#closing) {
        if (!this.#online) {
          await this.#pause();
          continue;
        }
        let session: Session | undefined;
        try {
          session = await this.#openSession();
          await this.#adopt(session);
          // Lost again while being adopted (its close found this loop running): go on.
          if (this.#current || this.#closing) return;
        } catch (error) {
          session?.connection.close(CLOSE_CODE.NORMAL, 'setup failed');
          if (this.#closing) return;
          const failure = asClientError(error);
          this.#emitter.emit('error', failure);
          if (failure.code === 'AUTH_REJECTED') {
            authFailures += 1;
            // A renewal refused: keep the open connection until it ends; its close retries.
            if (this.#current) return;
            const canRenewToken = this.#options.getToken !== undefined;
            if (!canRenewToken || (!this.#everOpened && authFailures >= 2)) return this.#shutdown(failure);
            // The token may just have expired: ask for a fresh one at once, once.
            if (authFailures === 1) continue;
          }
          if (failure.code === 'TOKEN_FAILED' && !this.#everOpened) return this.#shutdown(failure);
          // 429: over the per-user connection limit; climb the backoff faster.
          await this.#pause(this.#backoff.next(failure.details.status === 429 ? 3 : 1));
        }
      }
    } finally {
      this.#establishing = false;
    }
  }

  /** Opens a connection with a token and resolves once its welcome came. */
  async #openSession(): Promise<Session> {
    const WebSocket = await resolveWebSocket(this.#options.WebSocket);
    let token: string;
    try {
      token = this.#options.getToken ? await this.#options.getToken() : this.#options.token!;
    } catch (cause) {
      throw new NotificationClientError('TOKEN_FAILED', `getToken failed: ${String(cause)}`, {}, { cause });
    }
    if (this.#closing) throw new NotificationClientError('CLOSED', 'closed while connecting');
    // Assigned before any event can come: a socket reports nothing synchronously.
    let session!: Session;
    const connection = new Connection({
      WebSocket,
      url: this.#options.url,
      token,
      protocols: this.#options.protocols ?? [],
      welcomeTimeoutMs: this.#options.welcomeTimeoutMs ?? 20_000,
      events: {
        frame: (_from, frame) => this.#onFrame(session, frame),
        invalidFrame: (_from, text, reason) =>
          this.#emitter.emit('error', new NotificationClientError('INVALID_FRAME', `ignored a frame: ${reason}`, { frame: text.slice(0, 200) })),
        closed: (_from, code, reason) => this.#onClosed(session, code, reason),
      },
    });
    session = new Session(connection, token);
    this.#opening.add(session);
    try {
      await connection.ready;
    } finally {
      this.#opening.delete(session);
    }
    return session;
  }

  /**
   * Makes a welcomed session the one in use: heartbeats, channels restored, then what
   * was missed replayed (by positions, from the welcome's heads; else, after a reconnect
   * or renewal, `since` the newest seen); a session it renews closes only after that, so
   * the two overlap.
   */
  async #adopt(session: Session): Promise<void> {
    const { connection } = session;
    const welcome = connection.welcome!;
    const isFirst = !this.#everOpened;
    this.#sessionStart ??= welcome.serverTime;
    session.serverChannels = [...welcome.channels];
    session.positioned = welcome.streams !== undefined;
    this.#channels ??= [...welcome.channels];
    // Frames that came before the welcome (or since), in arrival order, before its heads:
    // a head takes as seen what it covers, so they must have been shown first.
    connection.start();
    // At once: a notification to the user arriving from now on is counted on top of it.
    if (welcome.unreadCount !== undefined) this.#setUnread(welcome.unreadCount);
    this.#unreadBaseline = welcome.streams?.[`user#${welcome.userId}`];
    if (welcome.streams) this.#observeHeads(welcome.streams, { start: false });
    this.#sessions.add(session);
    this.#startHeartbeat(session, welcome);
    await this.#restoreChannels(session);
    if (this.#closing) throw new NotificationClientError('CLOSED', 'closed while connecting');

    const previous = this.#current;
    this.#current = session;
    this.#everOpened = true;
    this.#backoff.reset();
    this.#scheduleRenewal(session);
    const expiresAt = welcome.tokenExpiresAt ?? tokenExpiry(session.token);
    // welcome's times are both the server's: no clock skew between them.
    if (expiresAt) this.#scheduleRefresh(session, expiresAt, welcome.tokenExpiresAt ? welcome.serverTime : Date.now());
    this.#emitter.emit('welcome', welcome);
    this.#setState('open');
    if (this.#connected && !this.#connected.settled) {
      this.#connected.settled = true;
      this.#connected.resolve(welcome);
    }
    this.#flushQueue();
    if (!isFirst) this.#refreshMembers(session);
    if (session.positioned) {
      // Channels restored after a reconnect (or subscribed again after a reload) were not in
      // the welcome's heads: ask from where they stood.
      for (const channel of session.serverChannels) if (!welcome.streams?.[`channel#${channel}`]) this.#continuity.check(`channel#${channel}`);
      if (!isFirst || this.#continuity.needsRecovery) await this.#recover({ announce: !isFirst, fromHeads: true });
    } else if (!isFirst) {
      await this.#recoverSince(session);
    }
    if (previous && previous !== session) {
      previous.connection.close(CLOSE_CODE.NORMAL, 'renewed');
      // A subscribe answered by the old connection after the restore above.
      if (connection.isOpen) await this.#restoreChannels(session).catch((error: unknown) => this.#emitter.emit('error', asClientError(error)));
    }
  }

  #onClosed(session: Session, code: number, reason: string): void {
    session.end();
    this.#sessions.delete(session);
    this.#requests.targetClosed(session.connection, code, this.#closing);
    if (this.#closing) return;
    if (session !== this.#current) {
      this.#flushQueue();
      return;
    }
    this.#current = undefined;
    // close-codes.ts: what the code means and whether to come back.
    const close = closeCodeEntry(code);
    const error = new NotificationClientError(close.error, `the connection closed (${code}${reason ? ` ${reason}` : ''})`, { code, reason });
    if (!close.reconnect) {
      this.#shutdown(error);
      return;
    }
    this.#setState('reconnecting', error);
    // A renewal already under way becomes the reconnect.
    this.#startEstablishing();
  }

  #scheduleRenewal(session: Session): void {
    session.scheduleRenewal(this.#options.renewAfterMs ?? DEFAULT_RENEW_AFTER_MS, () => {
      if (this.#current === session && !this.#closing) this.#startEstablishing();
    });
  }

  /**
   * Sends `refresh` with a token from `getToken` ahead of `expiresAt`. Without getToken
   * there is no newer token: the server disconnects at expiry (`token-expired`) and the
   * reconnect asks for one, which a fixed token cannot give.
   */
  #scheduleRefresh(session: Session, expiresAt: string, now: string | number): void {
    if (!this.#options.getToken) return;
    const delay = refreshDelayMs(expiresAt, now, this.#options.refreshBeforeExpiryMs ?? 60_000);
    if (!Number.isFinite(delay)) return;
    session.scheduleRefresh(delay, () => void this.#refreshToken(session, expiresAt));
  }

  async #refreshToken(session: Session, expiresAt: string): Promise<void> {
    const { connection } = session;
    if (this.#closing || !connection.isOpen) return;
    try {
      let token: string;
      try {
        token = await this.#options.getToken!();
      } catch (cause) {
        throw new NotificationClientError('TOKEN_FAILED', `getToken failed: ${String(cause)}`, {}, { cause });
      }
      const frame = await this.#request('refresh', { token }, { session });
      if (frame.type !== 'refreshed') return;
      this.#emitter.emit('refreshed', { expiresAt: frame.payload.expiresAt });
      this.#scheduleRefresh(session, frame.payload.expiresAt, frame.timestamp);
    } catch (error) {
      // Refused (TOKEN_NOT_NEWER: getToken gave the same token) or lost: try again in half
      // the time left; if it never works, the server's token-expired disconnect reconnects.
      this.#emitter.emit('error', asClientError(error));
      if (connection.isOpen && !this.#closing) this.#scheduleRefresh(session, expiresAt, Date.now());
    }
  }

  #startHeartbeat(session: Session, welcome: WelcomePayload): void {
    const { connection } = session;
    const intervalMs = this.#options.heartbeatIntervalMs ?? welcome.heartbeatIntervalSeconds * 1000;
    const timeoutMs = this.#options.heartbeatTimeoutMs ?? 20_000;
    session.startHeartbeat(intervalMs, () => {
      this.#request('heartbeat', {}, { session, timeoutMs }).then(
        (frame) => {
          // The heads: the last notification missed shows here even when nothing newer follows.
          if (frame.type === 'heartbeat' && frame.payload.streams && !this.#closing) this.#observeHeads(frame.payload.streams, { start: true });
        },
        (error: NotificationClientError) => {
          // Any answer, even an error frame, proves the connection alive; silence does not.
          if (error.code !== 'TIMEOUT' || !connection.isOpen) return;
          this.#emitter.emit('error', new NotificationClientError('HEARTBEAT_TIMEOUT', `no heartbeat answer within ${timeoutMs} ms; reconnecting`));
          connection.close(CLOSE_CODE.HEARTBEAT_TIMEOUT, 'heartbeat timeout');
        },
      );
    });
  }

  // ---- channels and recovery ------------------------------------------------

  /** Subscribes and unsubscribes `session` until it holds the channels the application wants. */
  async #restoreChannels(session: Session): Promise<void> {
    const chunkSize = this.#options.maxChannelsPerRequest ?? 20;
    for (let pass = 0; pass < 3; pass += 1) {
      const wanted = this.#channels ?? [];
      const held = session.serverChannels;
      const missing = wanted.filter((channel) => !held.includes(channel));
      const extra = held.filter((channel) => !wanted.includes(channel));
      if (missing.length === 0 && extra.length === 0) return;
      for (const [type, channels] of [
        ['subscribe', missing],
        ['unsubscribe', extra],
      ] as const) {
        for (let start = 0; start < channels.length; start += chunkSize) {
          const frame = await this.#request(type, { channels: channels.slice(start, start + chunkSize) }, { session });
          const answer = frame.payload as SubscriptionPayload;
          // Restored channels: those with a position behind their head are recovered; new ones start at it.
          if (answer.streams) this.#observeHeads(answer.streams, { start: true });
          if (answer.rejected.length > 0) {
            // The server's word is final: the refused channels are no longer wanted.
            const refused = new Set(answer.rejected.map((rejection) => rejection.channel));
            this.#channels = (this.#channels ?? []).filter((channel) => !refused.has(channel));
            this.#emitter.emit(
              'error',
              new NotificationClientError('RESUBSCRIBE_REJECTED', `could not restore ${[...refused].join(', ')}`, { rejected: answer.rejected }),
            );
          }
        }
      }
    }
  }

  /**
   * Records what a user's subscribe/unsubscribe left the connection holding. A channel left
   * forgets its position (what it missed while not held is not this client's); one taken
   * with a known position (saved before a reload) is recovered from it.
   */
  #adoptSubscription(frame: ServerFrame): SubscriptionPayload {
    const answer = frame.payload as SubscriptionPayload;
    const before = this.#channels ?? [];
    this.#channels = [...answer.channels];
    for (const channel of before) if (!answer.channels.includes(channel)) this.#continuity.forget(`channel#${channel}`);
    let check = false;
    for (const channel of answer.accepted) if (!before.includes(channel) && this.#continuity.check(`channel#${channel}`)) check = true;
    // The heads of the channels taken: where a new one starts, so the next notification it misses shows as a gap.
    if (answer.streams) this.#continuity.observeHeads(answer.streams);
    this.#positionsMoved();
    if (check || this.#continuity.needsRecovery) void this.#recover();
    return answer;
  }

  // ---- positions in storage -------------------------------------------------------

  #loadPositions(storage: PositionStorage): Record<string, StreamPosition> {
    try {
      const text = storage.getItem(this.#options.storageKey ?? DEFAULT_STORAGE_KEY);
      if (text === null) return {};
      return readPositions((JSON.parse(text) as { streams?: unknown }).streams);
    } catch {
      // Unreadable or not ours: start without; the next save replaces it.
      return {};
    }
  }

  /** Positions moved: saved once they have been still for {@link SAVE_DELAY_MS} (and at close). */
  #positionsMoved(): void {
    if (!this.#options.storage || this.#saveTimer !== undefined || this.#continuity.version === this.#savedVersion) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      this.#savePositions();
    }, SAVE_DELAY_MS);
  }

  #savePositions(): void {
    const storage = this.#options.storage;
    if (!storage) return;
    const version = this.#continuity.version;
    if (version === this.#savedVersion) return;
    try {
      storage.setItem(this.#options.storageKey ?? DEFAULT_STORAGE_KEY, JSON.stringify({ version: 1, streams: this.#continuity.positions() }));
      this.#savedVersion = version;
    } catch (cause) {
      // Full or refused (private mode): the positions live on in memory; a reload starts at the heads.
      this.#emitter.emit('error', new NotificationClientError('STORAGE_FAILED', `could not save positions: ${String(cause)}`, {}, { cause }));
    }
  }

  /**
   * Recovery by positions: `recover { streams }` for the streams that need it, one request
   * at a time per client (what asks meanwhile joins the run), again while an answer leaves
   * more (`complete: false`, a gap, `retryAfterMs`), at most {@link MAX_RECOVER_ROUNDS}
   * rounds. Resolves when the run ends; never rejects.
   */
  #recover(options: { announce?: boolean; fromHeads?: boolean } = {}): Promise<void> {
    if (options.announce) this.#announceRecovery = true;
    if (options.fromHeads) this.#recoveryStalled = false;
    if (this.#recoveryStalled || this.#closing) return Promise.resolve();
    if (!this.#recovering) this.#recoveryRun = this.#runRecovery();
    return this.#recoveryRun!;
  }

  async #runRecovery(): Promise<void> {
    this.#recovering = true;
    let count = 0;
    let rounds = 0;
    let complete = true;
    let asked = false;
    const streams: Record<string, StreamPosition> = {};
    try {
      while (this.#continuity.needsRecovery && !this.#closing) {
        const session = this.#current;
        // No connection: the next one's welcome starts it again.
        if (!session?.connection.isOpen) return;
        if (rounds === MAX_RECOVER_ROUNDS) {
          complete = false;
          this.#recoveryStalled = true;
          const waiting = this.#continuity.wanted;
          this.#emitter.emit(
            'error',
            new NotificationClientError(
              'RECOVERY_INCOMPLETE',
              `recovery stopped after ${MAX_RECOVER_ROUNDS} rounds with ${waiting.join(', ')} still behind; the next heads try again`,
              { streams: waiting, count },
            ),
          );
          break;
        }
        rounds += 1;
        const request = this.#continuity.takeRecoveryRequest(MAX_RECOVER_STREAMS);
        if (Object.keys(request).length === 0) continue;
        let answer: RecoveredPayload;
        try {
          const timeoutMs = (this.#options.requestTimeoutMs ?? 15_000) * 4;
          const frame = await this.#request('recover', { streams: request }, { session, timeoutMs });
          if (frame.type !== 'recovered') throw new NotificationClientError('INVALID_FRAME', `recover was answered with ${frame.type}`);
          answer = frame.payload;
        } catch (error) {
          // Lost with its connection, refused or unanswered: the streams wait for the next trigger.
          this.#continuity.recoveryFailed(request);
          const failure = asClientError(error);
          if (failure.code !== 'CONNECTION_LOST' && failure.code !== 'CLOSED') this.#emitter.emit('error', failure);
          return;
        }
        asked = true;
        count += answer.count;
        const { emissions, retryAfterMs } = this.#continuity.applyRecovered(request, answer);
        this.#emitAll(session, emissions);
        for (const stream of Object.keys(request)) {
          const position = this.#continuity.position(stream);
          if (position) streams[stream] = position;
        }
        this.#positionsMoved();
        if (retryAfterMs > 0 && this.#continuity.needsRecovery) await this.#waitToRetry(Math.min(retryAfterMs, MAX_RETRY_AFTER_MS));
      }
    } finally {
      // In the same step as the last check: a trigger after this starts a new run.
      this.#recovering = false;
    }
    if (this.#closing || (!asked && !this.#announceRecovery)) return;
    this.#announceRecovery = false;
    this.#emitter.emit('recovered', { count, complete, streams });
  }

  #waitToRetry(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#recoveryWait = undefined;
        resolve();
      }, ms);
      this.#recoveryWait = { timer, resolve };
    });
  }

  /**
   * Heads (welcome, heartbeat answers): streams without a position take theirs; one
   * behind its head missed something and is recovered.
   */
  #observeHeads(heads: Readonly<Record<string, StreamPosition>>, options: { start: boolean }): void {
    this.#continuity.observeHeads(heads);
    this.#positionsMoved();
    if (options.start && this.#continuity.needsRecovery) void this.#recover({ fromHeads: true });
  }

  /**
   * A server without stream heads in its welcome (before positions): replays, from a
   * little before the newest notification seen, what the gap between connections missed.
   */
  async #recoverSince(session: Session): Promise<void> {
    const overlapMs = this.#options.recoveryOverlapMs ?? 60_000;
    const since = this.#lastSeen ? new Date(this.#lastSeen.time - overlapMs).toISOString() : this.#sessionStart!;
    let from = since;
    let count = 0;
    let complete = false;
    const progress = { tail: undefined as string | undefined, targetedToUser: 0 };
    session.recovery = progress;
    try {
      for (let round = 0; round < MAX_SINCE_ROUNDS; round += 1) {
        progress.tail = undefined;
        const timeoutMs = (this.#options.requestTimeoutMs ?? 15_000) * 4;
        const frame = await this.#request('recover', { since: from }, { session, timeoutMs });
        const answer = frame.payload as { count: number; complete: boolean };
        count += answer.count;
        complete = answer.complete;
        const tail = session.recovery?.tail;
        // A full page means more are kept: ask again from the last one replayed.
        if (complete || answer.count < RECOVER_PAGE_SIZE || tail === undefined) break;
        from = tail;
      }
    } catch (error) {
      // The connection dropped mid-recovery: the next one recovers from the same point.
      this.#emitter.emit('error', asClientError(error));
      return;
    } finally {
      this.#endUncertainUnread(session);
    }
    if (!complete) {
      this.#emitter.emit(
        'error',
        new NotificationClientError('RECOVERY_INCOMPLETE', `the server could not replay everything since ${since}; some notifications may be missing`, {
          since,
          count,
        }),
      );
    }
    this.#emitter.emit('recovered', { count, complete, streams: {}, since });
  }

  // ---- frames -------------------------------------------------------------------

  #onFrame(session: Session, frame: ServerFrame): void {
    if (frame.type === 'disconnect') {
      this.#onDisconnectFrame(session, frame.payload);
      return;
    }
    if (frame.type === 'notification') {
      if (session.recovery) session.recovery.tail = frame.messageId;
      this.#deliver(session, frame);
      return;
    }
    if (frame.type === 'error' && frame.payload.code === 'NOT_REGISTERED') {
      // The service no longer holds this connection: nothing reaches it any more. Its
      // requests end with it (those made by the application are sent again on the next one).
      session.connection.close(CLOSE_CODE.UNREGISTERED, 'not registered');
      return;
    }
    this.#observe(frame);
    if (this.#requests.settle(frame)) {
      // Before the requester continues (a promise continuation runs after this returns).
      if (frame.type === 'subscription') session.serverChannels = [...frame.payload.channels];
      return;
    }
    if (frame.type === 'error') this.#emitter.emit('error', new NotificationClientError(frame.payload.code, frame.payload.message));
  }

  // API Gateway closes a connection without a close code of our choosing, so the server
  // says why first; `reconnect: false` means this token is no good any more.
  #onDisconnectFrame(session: Session, payload: DisconnectPayload): void {
    this.#emitter.emit('disconnected', payload);
    if (!payload.reconnect) {
      const { error } = DISCONNECT_REASONS[payload.reason];
      this.#shutdown(
        new NotificationClientError(error, `the server disconnected this client (${payload.reason}); not reconnecting`, { reason: payload.reason }),
      );
      return;
    }
    // Nothing reaches an unregistered connection: give it up now rather than wait for the close.
    if (payload.reason === 'unregistered') session.connection.close(CLOSE_CODE.UNREGISTERED, 'unregistered');
  }

  /** A notification frame, live or replayed: through continuity, which says what to show and whether to recover. */
  #deliver(session: Session, frame: NotificationFrame): void {
    this.#emitAll(session, this.#continuity.receive(frame));
    this.#positionsMoved();
    if (this.#continuity.needsRecovery) void this.#recover();
  }

  #emitAll(session: Session, emissions: readonly Emission<NotificationFrame>[]): void {
    for (const emission of emissions) {
      if (emission.type === 'continuityLost') {
        this.#emitter.emit('continuityLost', emission.lost);
        continue;
      }
      const { frame } = emission;
      // `recover { since }` compares acceptance times: the newest seen is where the next one starts.
      const time = Date.parse(frame.timestamp);
      if (!this.#lastSeen || time >= this.#lastSeen.time) this.#lastSeen = { messageId: frame.messageId, time };
      if (frame.targetUserId !== undefined && frame.targetUserId === session.connection.welcome?.userId) this.#countNewInboxItem(session, frame);
      this.#emitter.emit('notification', frame);
    }
  }

  // ---- presence channels and inbox ----------------------------------------------

  /** Keeps member lists and the unread count from the frames that tell them, replies and pushes alike. */
  #observe(frame: ServerFrame): void {
    switch (frame.type) {
      case 'members':
        this.#presenceChannels.add(frame.payload.channel);
        this.#emitter.emit('members', frame.payload);
        return;
      case 'join':
      case 'leave':
        this.#presenceChannels.add(frame.payload.channel);
        this.#emitter.emit(frame.type, { channel: frame.payload.channel, userId: frame.payload.userId });
        return;
      case 'inbox':
      case 'inboxState':
        this.#setUnread(frame.payload.unreadCount);
        return;
      default:
    }
  }

  /**
   * A notification to the user, shown for the first time, is a new unread inbox item unless
   * the welcome's count has it already: by position, those up to the user stream's head in
   * that welcome. Without positions, while `recover { since }` runs, replayed ones cannot be
   * told from live ones: those are counted once it ends by asking the server.
   */
  #countNewInboxItem(session: Session, frame: NotificationFrame): void {
    const baseline = this.#unreadBaseline;
    if (isPositioned(frame) && baseline) {
      if (baseline.offset > 0 && frame.epoch === baseline.epoch && frame.offset <= baseline.offset) return;
    } else if (session.recovery) {
      session.recovery.targetedToUser += 1;
      return;
    }
    if (this.#unreadCount !== undefined) this.#setUnread(this.#unreadCount + 1);
  }

  /**
   * Recovery on `session` ended (or failed): notifications to the user count one by one
   * again; if some came meanwhile, the server is asked for the exact count (the `inbox`
   * answer sets it; a failure leaves the count as it is).
   */
  #endUncertainUnread(session: Session): void {
    const uncertain = session.recovery?.targetedToUser ?? 0;
    session.recovery = undefined;
    if (uncertain === 0 || !session.connection.isOpen || this.#closing) return;
    this.#request('inbox', { limit: 1, unreadOnly: true }, { session }).catch((error: unknown) => {
      const failure = asClientError(error);
      // Lost with its connection: the next connection's welcome tells the count anyway.
      if (failure.code !== 'CONNECTION_LOST' && failure.code !== 'CLOSED') this.#emitter.emit('error', failure);
    });
  }

  /**
   * After a reconnect or renewal: `members` for each restored presence channel, so the
   * app's lists heal from the `join` / `leave` sent while it had no connection. The
   * answers come as `members` events.
   */
  #refreshMembers(session: Session): void {
    const held = session.serverChannels;
    for (const channel of [...this.#presenceChannels].filter((known) => held.includes(known))) {
      this.#request('members', { channel }, { session }).catch((error: unknown) => {
        const failure = asClientError(error);
        // FORBIDDEN: not (or no longer) a presence channel: stop asking, quietly.
        if (failure.code === 'FORBIDDEN') this.#presenceChannels.delete(channel);
        // CONNECTION_LOST: the next connection asks again.
        else if (failure.code !== 'CONNECTION_LOST' && failure.code !== 'CLOSED') this.#emitter.emit('error', failure);
      });
    }
  }

  /** Emits `unread` when the count changes. */
  #setUnread(count: number): void {
    if (count === this.#unreadCount) return;
    this.#unreadCount = count;
    this.#emitter.emit('unread', { count });
  }

  // ---- requests -------------------------------------------------------------------

  /**
   * Sends a request and resolves with the frame that answers it (requests.ts), or rejects
   * with the `error` frame's code. Without `session` it waits for an open connection and,
   * with `resend`, is sent again if that one drops before the answer.
   */
  #request(
    type: ClientRequestType,
    payload: Record<string, unknown>,
    options: { session?: Session; resend?: boolean; timeoutMs?: number },
  ): Promise<ServerFrame> {
    if (this.#closing) return Promise.reject(new NotificationClientError('CLOSED', 'this client was closed'));
    const timeoutMs = options.timeoutMs ?? this.#options.requestTimeoutMs ?? 15_000;
    if (options.session) return this.#requests.sendOn(options.session.connection, type, payload, timeoutMs);
    if (this.#state === 'idle') return Promise.reject(new NotificationClientError('NOT_CONNECTED', 'call connect() first'));
    const answered = this.#requests.enqueue(type, payload, { resend: options.resend ?? false, timeoutMs });
    this.#flushQueue();
    return answered;
  }

  #flushQueue(): void {
    const connection = this.#current?.connection;
    if (this.#state !== 'open' || !connection?.isOpen) return;
    this.#requests.flush(connection);
  }

  // ---- state, network, shutdown -------------------------------------------------

  #setState(state: ConnectionState, error?: NotificationClientError): void {
    if (state === this.#state) return;
    const previous = this.#state;
    this.#state = state;
    this.#emitter.emit('state', error ? { state, previous, error } : { state, previous });
  }

  /** Waits `ms`, or until woken (back online, closed); without `ms`, only until woken. */
  #pause(ms?: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = ms === undefined ? undefined : setTimeout(() => done(), ms);
      const done = () => {
        clearTimeout(timer);
        if (this.#wake === done) this.#wake = undefined;
        resolve();
      };
      this.#wake = done;
    });
  }

  #listenToNetwork(): void {
    const fallback = typeof (globalThis as Partial<EventTarget>).addEventListener === 'function' ? (globalThis as unknown as EventTarget) : null;
    const target = this.#options.networkEvents === undefined ? fallback : this.#options.networkEvents;
    if (!target) return;
    if (target === fallback) this.#online = (globalThis as { navigator?: { onLine?: boolean } }).navigator?.onLine !== false;
    const offline = () => {
      this.#online = false;
      // The socket may linger half-open for minutes; give it up now and wait for `online`.
      for (const session of this.#opening) session.connection.close(CLOSE_CODE.OFFLINE, 'offline');
      this.#current?.connection.close(CLOSE_CODE.OFFLINE, 'offline');
    };
    const online = () => {
      this.#online = true;
      this.#backoff.reset();
      this.#wake?.();
    };
    target.addEventListener('offline', offline);
    target.addEventListener('online', online);
    this.#detachNetwork = () => {
      target.removeEventListener('offline', offline);
      target.removeEventListener('online', online);
    };
  }

  #shutdown(error?: NotificationClientError): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#detachNetwork?.();
    this.#wake?.();
    clearTimeout(this.#saveTimer);
    this.#saveTimer = undefined;
    this.#savePositions();
    if (this.#recoveryWait) {
      clearTimeout(this.#recoveryWait.timer);
      this.#recoveryWait.resolve();
    }
    const reason = error ?? new NotificationClientError('CLOSED', 'the client was closed');
    if (this.#connected && !this.#connected.settled) {
      this.#connected.settled = true;
      this.#connected.reject(reason);
    }
    this.#requests.rejectQueued(() => new NotificationClientError('CLOSED', 'the client was closed'));
    for (const session of [...this.#opening]) session.connection.close(CLOSE_CODE.NORMAL, 'client closed');
    const sessions = new Set([...this.#sessions, ...(this.#current ? [this.#current] : [])]);
    for (const session of sessions) session.connection.close(CLOSE_CODE.NORMAL, 'client closed');
    this.#current = undefined;
    this.#setState('closed', error);
  }
}

function checkPayload<T extends z.ZodMiniType>(schema: T, value: unknown): z.infer<T> & Record<string, unknown> {
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    throw new NotificationClientError('INVALID_ARGUMENT', formatZodIssues(parsed.error, { limit: 1 })[0] ?? 'an invalid argument');
  }
  return parsed.data as z.infer<T> & Record<string, unknown>;
}

function asClientError(error: unknown): NotificationClientError {
  if (error instanceof NotificationClientError) return error;
  return new NotificationClientError('HANDSHAKE_FAILED', String(error), {}, { cause: error });
}
