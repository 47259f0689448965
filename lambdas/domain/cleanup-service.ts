import { forEachBounded } from './fanout/connection-delivery.js';
import type { Connection, ConnectionRef, ConnectionSummary } from './model.js';
import type { Clock, ConnectionStore, Log, MessageSender } from './ports.js';
import { serverFrame } from './server-frames.js';

export interface CleanupServiceOptions {
  readonly connections: ConnectionStore;
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly log: Log;
  /** Seconds without a heartbeat after which a connection is stale (`websocket.idle_timeout`). */
  readonly idleTimeoutSeconds: number;
  /** Most connections handled at once. */
  readonly concurrency: number;
  /**
   * Told of each connection this run removed (with the channels it held), after the
   * removal: presence channels send the `leave` its `$disconnect` missed.
   * @default - nothing is told
   */
  readonly onRemoved?: (connection: Connection) => Promise<void>;
}

/** What one cleanup pass came to (run: the idle pass and the token-expiry pass added up). */
export interface CleanupSummary {
  /** Connections listed as idle, or as holding an expired token. */
  examined: number;
  /** Sockets closed through the Management API (or found already closed). */
  closed: number;
  /** Connections removed from the store, with their subscriptions and presence. */
  removed: number;
  /** Connections left for the next pass because closing them failed. */
  failed: number;
}

/**
 * Closes and removes connections that have been silent for too long (the backstop for
 * `$disconnect`, which API Gateway delivers only on a best-effort basis) and those whose
 * token has expired without a `refresh`.
 */
export class CleanupService {
  readonly #options: CleanupServiceOptions;

  constructor(options: CleanupServiceOptions) {
    if (!Number.isInteger(options.idleTimeoutSeconds) || options.idleTimeoutSeconds < 1) {
      throw new RangeError(`idleTimeoutSeconds must be a positive integer, got ${options.idleTimeoutSeconds}`);
    }
    this.#options = options;
  }

  /** Cleans up connections silent for longer than the configured idle timeout, then those whose token expired. */
  async run(): Promise<CleanupSummary> {
    const idle = await this.cleanupInactive(this.#options.idleTimeoutSeconds);
    const expired = await this.closeExpiredTokens();
    return {
      examined: idle.examined + expired.examined,
      closed: idle.closed + expired.closed,
      removed: idle.removed + expired.removed,
      failed: idle.failed + expired.failed,
    };
  }

  /**
   * Closes the connections whose token expired before now and was not refreshed: each is
   * told why (`disconnect`, reason `token-expired`, reconnect with a fresh token), closed
   * through the Management API and removed. Listed from the token-expiry index, no scan.
   */
  async closeExpiredTokens(): Promise<CleanupSummary> {
    const now = this.#options.clock.now().toISOString();
    const summary = await this.#sweep(this.#options.connections.listTokenExpiredBefore(now), 'expired', (expired, summary) =>
      this.#closeExpired(expired, now, summary),
    );
    this.#options.log.info('token expiry cleanup finished', { now, ...summary });
    return summary;
  }

  /**
   * Runs `close` for each listed connection, `concurrency` at a time; one that fails is
   * counted and left for the next cleanup, never stopping the others.
   */
  async #sweep<T extends ConnectionRef>(
    listing: AsyncIterable<readonly T[]>,
    what: 'expired' | 'stale',
    close: (ref: T, summary: CleanupSummary) => Promise<void>,
  ): Promise<CleanupSummary> {
    const { log, concurrency } = this.#options;
    const summary: CleanupSummary = { examined: 0, closed: 0, removed: 0, failed: 0 };
    await forEachBounded(listing, concurrency, async (ref) => {
      summary.examined += 1;
      try {
        await close(ref, summary);
      } catch (error) {
        summary.failed += 1;
        log.warn(`${what} connection left for the next cleanup`, {
          connectionId: ref.connectionId,
          userId: ref.userId,
          error: error instanceof Error ? error.name : String(error),
          reason: error instanceof Error ? error.message : undefined,
        });
      }
    });
    return summary;
  }

  async #closeExpired(expired: ConnectionRef, now: string, summary: CleanupSummary): Promise<void> {
    const { connections, sender, clock, log } = this.#options;
    // A refresh since the listing (the index lags the table) spares the connection.
    const current = await connections.get(expired.connectionId);
    if (!current?.tokenExpiresAt || current.tokenExpiresAt >= now) return;
    const frame = serverFrame(clock, 'disconnect', { reason: 'token-expired', reconnect: true });
    try {
      await sender.post(expired.connectionId, JSON.stringify(frame));
    } catch (error) {
      // Telling the client is a courtesy: gone, in doubt or failing, the socket is closed anyway.
      log.info('disconnect frame not delivered', { connectionId: expired.connectionId, error: error instanceof Error ? error.name : String(error) });
    }
    await sender.close(expired.connectionId);
    summary.closed += 1;
    await this.#remove(expired.connectionId, summary);
    log.info('expired connection closed', { connectionId: expired.connectionId, userId: current.userId, tokenExpiresAt: current.tokenExpiresAt });
  }

  /** Cleans up connections whose last activity is more than `idleSeconds` ago. */
  async cleanupInactive(idleSeconds: number): Promise<CleanupSummary> {
    if (!Number.isFinite(idleSeconds) || idleSeconds < 0) {
      throw new RangeError(`idleSeconds must be a non-negative number, got ${idleSeconds}`);
    }
    const cutoff = new Date(this.#options.clock.now().getTime() - idleSeconds * 1000).toISOString();
    const summary = await this.#sweep(this.#options.connections.listIdleSince(cutoff), 'stale', (idle, summary) => this.#closeAndRemove(idle, cutoff, summary));
    this.#options.log.info('cleanup finished', { cutoff, ...summary });
    return summary;
  }

  /** Only the call that removed the connection gets it back, so each removal is told once. */
  async #remove(connectionId: string, summary: CleanupSummary): Promise<void> {
    const removed = await this.#options.connections.remove(connectionId);
    if (!removed) return;
    summary.removed += 1;
    try {
      await this.#options.onRemoved?.(removed);
    } catch (error) {
      // The removal stands; what the listener missed (a `leave`) is not retried.
      this.#options.log.warn('removal listener failed', { connectionId, error: error instanceof Error ? error.name : String(error) });
    }
  }

  async #closeAndRemove(idle: ConnectionSummary, cutoff: string, summary: CleanupSummary): Promise<void> {
    const { connections, sender, log } = this.#options;
    // The index may lag behind, or a heartbeat may have arrived since the listing: only a
    // connection that is still stale on a consistent read is closed.
    const current = await connections.get(idle.connectionId);
    if (!current) return;
    if (current.lastSeenAt >= cutoff) return;
    await sender.close(idle.connectionId);
    summary.closed += 1;
    await this.#remove(idle.connectionId, summary);
    log.info('stale connection closed', { connectionId: idle.connectionId, userId: idle.userId, lastSeenAt: current.lastSeenAt });
  }
}
