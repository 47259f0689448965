import { ConnectionGoneError, ThrottledError, TransientError } from './errors.js';
import type { ConnectionRef } from './model.js';
import type { ConnectionStore, Log, MessageSender } from './ports.js';

/** How posts that met throttling or a transient fault are retried. */
export interface RetryPolicy {
  /** Attempts per post, the first included. */
  readonly attempts: number;
  /** Ceiling of the first backoff; each further one doubles, up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 3, baseDelayMs: 50, maxDelayMs: 1000 };

/** What became of the posts to one audience. */
export interface DeliveryCounts {
  /** Connections the frame was meant for (each once). */
  targets: number;
  delivered: number;
  /** Connections that were gone (410) and have been removed. */
  gone: number;
  /** Posts that failed for another reason, after retries. */
  failed: number;
}

export interface ConnectionDeliveryOptions {
  readonly sender: MessageSender;
  readonly connections: ConnectionStore;
  readonly log: Log;
  /** Most posts in flight at once. */
  readonly concurrency: number;
  readonly retry?: RetryPolicy;
  /** Waits between attempts; injectable so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** [0, 1); injectable so tests get a fixed jitter. */
  readonly random?: () => number;
}

/**
 * Runs `work` for every item of every page, never more than `limit` at once, starting
 * items as pages arrive rather than after reading them all. `work` must not reject.
 */
export async function forEachBounded<T>(
  pages: AsyncIterable<readonly T[]>,
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a positive integer, got ${limit}`);
  const inFlight = new Set<Promise<void>>();
  for await (const page of pages) {
    for (const item of page) {
      while (inFlight.size >= limit) await Promise.race(inFlight);
      const running: Promise<void> = work(item).finally(() => inFlight.delete(running));
      inFlight.add(running);
    }
  }
  await Promise.all(inFlight);
}

/**
 * Posts one frame to many connections with bounded concurrency. A connection that is
 * gone is removed (it alone: never the sender of anything); throttling and transient
 * faults are retried with exponential backoff and full jitter; anything else counts as
 * failed. Never throws for a single connection's failure.
 */
export class ConnectionDelivery {
  readonly #options: ConnectionDeliveryOptions;
  readonly #retry: RetryPolicy;
  readonly #sleep: (ms: number) => Promise<void>;
  readonly #random: () => number;

  constructor(options: ConnectionDeliveryOptions) {
    this.#options = options;
    this.#retry = options.retry ?? DEFAULT_RETRY_POLICY;
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#random = options.random ?? Math.random;
  }

  /** Posts `data` to each connection of `audience` once. */
  async deliver(audience: AsyncIterable<readonly ConnectionRef[]>, data: string, context: Record<string, unknown> = {}): Promise<DeliveryCounts> {
    const counts: DeliveryCounts = { targets: 0, delivered: 0, gone: 0, failed: 0 };
    // A connection listed twice (pages of a changing index) still gets the frame once.
    const seen = new Set<string>();
    await forEachBounded(audience, this.#options.concurrency, async (ref) => {
      if (seen.has(ref.connectionId)) return;
      seen.add(ref.connectionId);
      counts.targets += 1;
      counts[await this.#postOne(ref, data, context)] += 1;
    });
    return counts;
  }

  async #postOne(ref: ConnectionRef, data: string, context: Record<string, unknown>): Promise<'delivered' | 'gone' | 'failed'> {
    const { sender, log } = this.#options;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await sender.post(ref.connectionId, data);
        return 'delivered';
      } catch (error) {
        if (error instanceof ConnectionGoneError) {
          await this.#remove(ref, context);
          return 'gone';
        }
        const retryable = error instanceof ThrottledError || error instanceof TransientError;
        if (retryable && attempt < this.#retry.attempts) {
          await this.#sleep(this.#backoffMs(attempt));
          continue;
        }
        log.warn('post failed', {
          ...context,
          connectionId: ref.connectionId,
          userId: ref.userId,
          attempts: attempt,
          error: error instanceof Error ? error.name : String(error),
          reason: error instanceof Error ? error.message : undefined,
        });
        return 'failed';
      }
    }
  }

  // 410 Gone: the socket is dead; remove it, do not retry. Its subscriptions go with it.
  async #remove(ref: ConnectionRef, context: Record<string, unknown>): Promise<void> {
    try {
      await this.#options.connections.remove(ref.connectionId);
    } catch (error) {
      // The post already told us the socket is gone; a connection left in the store is
      // removed by the next 410 or by cleanup.
      this.#options.log.warn('could not remove a gone connection', {
        ...context,
        connectionId: ref.connectionId,
        error: error instanceof Error ? error.name : String(error),
      });
    }
  }

  // Full jitter: a random wait up to the exponential ceiling, so that many posters
  // throttled at once do not come back at once.
  #backoffMs(attempt: number): number {
    const ceiling = Math.min(this.#retry.maxDelayMs, this.#retry.baseDelayMs * 2 ** (attempt - 1));
    return Math.floor(this.#random() * ceiling);
  }
}
