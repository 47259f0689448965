import type { WebSocketConfig } from '../config/schema.js';
import { automaticChannels } from '../../protocol/channels.js';
import type { StreamPosition, WelcomePayload } from '../../protocol/frames.js';
import { ConnectionGoneError, ConnectionLimitError, PostInDoubtError } from './errors.js';
import type { Connection, Identity } from './model.js';
import type { Clock, ConnectionStore, InboxStore, Log, MessageSender, WelcomeScheduler } from './ports.js';
import { serverFrame } from './server-frames.js';
import type { StreamHeads } from './stream-heads.js';

export type ConnectOutcome =
  | { readonly status: 'accepted'; readonly subprotocol?: string; readonly connection: Connection }
  | { readonly status: 'refused'; readonly httpStatus: 400 | 429; readonly reason: string };

/** `in-doubt`: the post may have been delivered; it is not posted again. */
export type WelcomeOutcome = 'delivered' | 'connection-removed' | 'not-postable' | 'in-doubt';

export interface ConnectionServiceOptions {
  readonly connections: ConnectionStore;
  readonly sender: MessageSender;
  readonly welcome: WelcomeScheduler;
  /**
   * Gives welcome its `unreadCount`.
   * @default - welcome carries no unreadCount
   */
  readonly inbox?: Pick<InboxStore, 'unreadCount'>;
  /**
   * Gives welcome the heads of the connection's streams (docs/protocol.md section 11).
   * @default - welcome carries no heads
   */
  readonly heads?: Pick<StreamHeads, 'tryOf'>;
  readonly clock: Clock;
  readonly log: Log;
  readonly config: Pick<WebSocketConfig, 'subprotocols' | 'max_connections_per_user' | 'idle_timeout' | 'heartbeat_interval'>;
  /** Waits between welcome attempts; injectable so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
}

/**
 * How long the welcome function keeps trying while a new connection is not yet postable.
 * API Gateway completes the handshake only after `$connect` returns, so the first posts
 * can meet 410 Gone for a moment.
 */
export const WELCOME_RETRY_DELAYS_MS = [25, 50, 100, 200, 400, 800, 1000, 1500, 2000, 2500] as const;

/** The lifecycle of a connection: open, welcome, heartbeat, close. */
export class ConnectionService {
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(private readonly options: ConnectionServiceOptions) {
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
  }

  /** Picks the first offered subprotocol the service speaks; undefined when none was offered. */
  chooseSubprotocol(offered: readonly string[]): { readonly ok: true; readonly chosen?: string } | { readonly ok: false } {
    if (offered.length === 0) return { ok: true };
    const chosen = offered.find((protocol) => this.options.config.subprotocols.includes(protocol));
    return chosen ? { ok: true, chosen } : { ok: false };
  }

  /**
   * Registers a connection that the authorizer let through: the per-user limit, the
   * automatic subscriptions, then a welcome scheduled for just after the handshake.
   */
  async connect(
    connectionId: string,
    identity: Identity,
    offeredSubprotocols: readonly string[] = [],
    client: { readonly dedupe?: boolean } = {},
  ): Promise<ConnectOutcome> {
    const { config, connections, clock, log } = this.options;
    const protocol = this.chooseSubprotocol(offeredSubprotocols);
    if (!protocol.ok) {
      return {
        status: 'refused',
        httpStatus: 400,
        reason: `none of the offered subprotocols (${offeredSubprotocols.join(', ')}) is supported; supported: ${config.subprotocols.join(', ')}`,
      };
    }
    const now = clock.now();
    const connection: Connection = {
      connectionId,
      userId: identity.userId,
      roles: [...identity.roles],
      connectedAt: now.toISOString(),
      lastSeenAt: now.toISOString(),
      channels: automaticChannels(identity.userId),
      ...(identity.tokenExpiresAt !== undefined ? { tokenExpiresAt: identity.tokenExpiresAt } : {}),
      ...(protocol.chosen ? { subprotocol: protocol.chosen } : {}),
      ...(client.dedupe ? { dedupe: true } : {}),
    };
    try {
      await connections.open(connection, {
        limit: config.max_connections_per_user,
        staleBefore: new Date(now.getTime() - config.idle_timeout * 1000).toISOString(),
      });
    } catch (error) {
      if (error instanceof ConnectionLimitError) {
        log.info('connection refused: per-user limit', { connectionId, userId: identity.userId, limit: error.limit });
        return { status: 'refused', httpStatus: 429, reason: error.message };
      }
      throw error;
    }
    try {
      await this.options.welcome.schedule(connectionId);
    } catch (error) {
      // The connection works without its welcome; a client that waits for it times out and reconnects.
      log.error('welcome could not be scheduled', { connectionId, error: String(error) });
    }
    return { status: 'accepted', connection, ...(protocol.chosen ? { subprotocol: protocol.chosen } : {}) };
  }

  /** The user's unread count for welcome; undefined (left out) when it cannot be read now. */
  private async unreadCount(connection: Connection): Promise<number | undefined> {
    if (!this.options.inbox) return undefined;
    try {
      return await this.options.inbox.unreadCount(connection.userId);
    } catch (error) {
      // The welcome matters more than its count; the client can ask `inbox` for it.
      this.options.log.warn('welcome without unreadCount: the inbox could not be read', { connectionId: connection.connectionId, error: String(error) });
      return undefined;
    }
  }

  /** The welcome frame for a stored connection. */
  welcomePayload(connection: Connection, unreadCount?: number, streams?: Record<string, StreamPosition>): WelcomePayload {
    return {
      connectionId: connection.connectionId,
      userId: connection.userId,
      channels: [...connection.channels].sort(),
      heartbeatIntervalSeconds: this.options.config.heartbeat_interval,
      serverTime: this.options.clock.now().toISOString(),
      ...(connection.tokenExpiresAt !== undefined ? { tokenExpiresAt: connection.tokenExpiresAt } : {}),
      ...(unreadCount !== undefined ? { unreadCount } : {}),
      ...(streams !== undefined ? { streams } : {}),
    };
  }

  /**
   * Posts `welcome`, retrying while the connection is not yet postable (410 just after
   * `$connect`), and giving up once the store no longer holds the connection. A post in
   * doubt is an outcome, not an error: thrown, it would make Lambda's asynchronous retry
   * post a second welcome.
   */
  async deliverWelcome(connectionId: string): Promise<WelcomeOutcome> {
    const { connections, sender, clock, log } = this.options;
    let unreadCount: number | undefined;
    for (let attempt = 0; ; attempt += 1) {
      const connection = await connections.get(connectionId);
      if (!connection) {
        await this.tellUnregistered(connectionId);
        return 'connection-removed';
      }
      unreadCount ??= await this.unreadCount(connection);
      // Read at every attempt: a notification stored meanwhile moves a head, and the
      // client recovers what it missed from the heads it is told.
      const streams = await this.options.heads?.tryOf(connection);
      const frame = serverFrame(clock, 'welcome', this.welcomePayload(connection, unreadCount, streams));
      try {
        await sender.post(connectionId, JSON.stringify(frame));
        log.info('welcome delivered', { connectionId, messageId: frame.messageId, attempts: attempt + 1 });
        return 'delivered';
      } catch (error) {
        if (error instanceof PostInDoubtError) {
          // Maybe delivered: a second welcome could reach the client twice. A client that
          // never got it times out waiting and reconnects.
          log.warn('welcome in doubt: maybe delivered, not posted again', { connectionId, messageId: frame.messageId, attempts: attempt + 1 });
          return 'in-doubt';
        }
        if (!(error instanceof ConnectionGoneError)) throw error;
        const delay = WELCOME_RETRY_DELAYS_MS[attempt];
        if (delay === undefined) {
          log.warn('welcome not delivered: connection never became postable', { connectionId, attempts: attempt + 1 });
          return 'not-postable';
        }
        await this.sleep(delay);
      }
    }
  }

  /**
   * The connection was removed before its welcome (a 410 met while its handshake was
   * still running, cleanup, a racing `$disconnect`), yet its socket may be open: tell it
   * and close it, so that the client reconnects instead of keeping a socket that
   * receives nothing. Best effort: a socket already closed needs nothing.
   */
  private async tellUnregistered(connectionId: string): Promise<void> {
    const { sender, clock, log } = this.options;
    try {
      await sender.post(connectionId, JSON.stringify(serverFrame(clock, 'disconnect', { reason: 'unregistered', reconnect: true })));
    } catch {
      // Gone, in doubt or refused: closing below is what matters.
    }
    try {
      await sender.close(connectionId);
      log.info('welcome found its connection removed; told it and closed it', { connectionId });
    } catch (error) {
      log.warn('could not close a connection removed before its welcome', { connectionId, error: error instanceof Error ? error.name : String(error) });
    }
  }

  /** Removes a closed connection with its subscriptions and presence entry. */
  async disconnect(connectionId: string): Promise<Connection | undefined> {
    return this.options.connections.remove(connectionId);
  }
}
