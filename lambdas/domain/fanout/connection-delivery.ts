import { ConnectionGoneError, PostInDoubtError, ThrottledError } from '../errors.js';
import { isRetryable, retryTimingOf, UNLIMITED_TIME, waitBeforeRetry, type RetryOptions, type RetryTiming } from '../retry.js';
import type { ConnectionRef } from '../model.js';
import { UNLIMITED_POSTS, type PostQuota } from './post-quota.js';
import { emptyCounts, type OutcomeCounts, type TargetOutcome } from './outcome-counts.js';
import type { ConnectionStore, Log, MessageSender, TimeBudget } from '../ports.js';

export { DEFAULT_RETRY_POLICY, type RetryPolicy } from '../retry.js';

/** One post that failed for good, and why: what a dead letter is made of. */
export interface PostFailure {
  readonly connectionId: string;
  readonly userId: string;
  readonly reason: string;
  readonly attempts: number;
}

/** What became of the posts to one audience: the outcome counts, how many it was for, and what a caller acts on. */
export interface DeliveryReport extends OutcomeCounts {
  /** Connections the frame was meant for (each once). */
  targets: number;
  readonly failures: PostFailure[];
  /**
   * Targets never attempted: the lease or the time ran out before their first attempt.
   * Counted in no outcome (nothing was posted to them); a later run posts them.
   */
  readonly unattempted: ConnectionRef[];
}

export interface ConnectionDeliveryOptions extends RetryOptions {
  readonly sender: MessageSender;
  readonly connections: ConnectionStore;
  readonly log: Log;
  /** Most posts in flight at once. */
  readonly concurrency: number;
}

/** How one delivery is bounded. */
export interface DeliveryLimits {
  /** Attributes for log lines (messageId, target). */
  readonly context?: Record<string, unknown>;
  /** Retries stop before this runs out. @default - unlimited */
  readonly budget?: TimeBudget;
  /** Every attempt takes a token first. @default - unlimited */
  readonly quota?: PostQuota;
  /**
   * The fence: epoch ms after which no attempt of this delivery may still be running (the
   * end of the lease on the work, less a margin). Every attempt's timeout ends before it;
   * a target whose attempt could not start in time is left in doubt, never posted late.
   * Read before each attempt, so a lease that is extended moves it.
   * @default - no fence but the budget
   */
  readonly postUntilMs?: () => number;
  /** Epoch ms now, for the fence. @default Date.now */
  readonly nowMs?: () => number;
}

/** The least time worth starting an attempt with: below it, the answer could not come back in time. */
export const MIN_ATTEMPT_MS = 50;

/**
 * Runs `work` for every item of every page, never more than `limit` at once, starting
 * items as pages arrive rather than after reading them all. `work` must not reject.
 *
 * A pool of `limit` workers pulls items from one shared cursor, so each item costs the
 * same whatever `limit` is (racing every in-flight promise per item grows with it). The
 * next page is read when a worker finds the current one used up; workers that run dry
 * meanwhile wait for that one read. If reading a page (or, against the contract, `work`)
 * fails, no further item starts, the items already running finish, and the error is
 * thrown.
 */
export async function forEachBounded<T>(
  pages: AsyncIterable<readonly T[]> | Iterable<readonly T[]>,
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  if (!Number.isInteger(limit) || limit < 1) throw new RangeError(`concurrency must be a positive integer, got ${limit}`);
  const iterator: AsyncIterator<readonly T[]> | Iterator<readonly T[]> =
    Symbol.asyncIterator in pages ? pages[Symbol.asyncIterator]() : pages[Symbol.iterator]();
  let page: readonly T[] = [];
  let index = 0;
  let exhausted = false;
  let failure: { readonly error: unknown } | undefined;
  let pageRead: Promise<void> | undefined;
  const readNextPage = () =>
    (pageRead ??= (async () => {
      try {
        const result = await iterator.next();
        if (result.done) exhausted = true;
        else {
          page = result.value;
          index = 0;
        }
      } finally {
        pageRead = undefined;
      }
    })());
  const worker = async () => {
    try {
      while (failure === undefined) {
        if (index < page.length) await work(page[index++]!);
        else if (exhausted) return;
        else await readNextPage();
      }
    } catch (error) {
      failure ??= { error };
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
  if (failure !== undefined) {
    // Stopped early: let the source release what it holds (a paginator, a cursor).
    if (!exhausted) await Promise.resolve(iterator.return?.()).catch(() => undefined);
    throw failure.error;
  }
}

type PostOutcome =
  | { readonly status: Exclude<TargetOutcome, 'failed'> | 'unattempted'; readonly retried: number; readonly throttled: number }
  | { readonly status: 'failed'; readonly retried: number; readonly throttled: number; readonly failure: PostFailure };

/**
 * Posts one frame to many connections with bounded concurrency. A connection that is
 * gone is removed (it alone: never the sender of anything); throttling and transient
 * faults are retried with exponential backoff and full jitter for as long as the
 * invocation's time allows; anything else fails at once. Never throws for a single
 * connection's failure: failures are reported, for the caller to dead-letter.
 */
export class ConnectionDelivery {
  readonly #options: ConnectionDeliveryOptions;
  readonly #timing: RetryTiming;
  readonly #reserveMs: number;

  constructor(options: ConnectionDeliveryOptions) {
    this.#options = options;
    ({ timing: this.#timing, reserveMs: this.#reserveMs } = retryTimingOf(options));
  }

  /** Posts `data` to each connection of `audience` once. */
  async deliver(
    audience: AsyncIterable<readonly ConnectionRef[]> | Iterable<readonly ConnectionRef[]>,
    data: string,
    limits: DeliveryLimits = {},
  ): Promise<DeliveryReport> {
    const report: DeliveryReport = { targets: 0, ...emptyCounts(), failures: [], unattempted: [] };
    // A connection listed twice (pages of a changing index) still gets the frame once.
    const seen = new Set<string>();
    await forEachBounded(audience, this.#options.concurrency, async (ref) => {
      if (seen.has(ref.connectionId)) return;
      seen.add(ref.connectionId);
      report.targets += 1;
      const outcome = await this.#postOne(ref, data, limits);
      if (outcome.status === 'unattempted') report.unattempted.push(ref);
      else report[outcome.status] += 1;
      report.retried += outcome.retried;
      report.throttled += outcome.throttled;
      if (outcome.status === 'failed') report.failures.push(outcome.failure);
    });
    return report;
  }

  async #postOne(ref: ConnectionRef, data: string, limits: DeliveryLimits): Promise<PostOutcome> {
    const { sender, log } = this.#options;
    const quota = limits.quota ?? UNLIMITED_POSTS;
    const budget = limits.budget ?? UNLIMITED_TIME;
    const nowMs = limits.nowMs ?? Date.now;
    let throttled = 0;
    for (let attempt = 1; ; attempt += 1) {
      const retried = attempt - 1;
      try {
        await quota.take();
        // The fence: an attempt must end before the invocation's reserve and before the
        // lease, or another run (the lease's next owner) could find this post in flight.
        const timeoutMs = Math.min(budget.remainingMs() - this.#reserveMs, (limits.postUntilMs?.() ?? Number.POSITIVE_INFINITY) - nowMs());
        if (timeoutMs < MIN_ATTEMPT_MS) {
          // Posting late could race the lease's next owner. Never attempted: not posted, left
          // for a later run to post (not in doubt). Attempted and refused every time: failed.
          log.warn('post not attempted: the lease or the time ran out', { ...limits.context, connectionId: ref.connectionId, attempts: retried });
          if (retried === 0) return { status: 'unattempted', retried, throttled };
          const reason = "the lease or the invocation's time ran out before another attempt";
          return { status: 'failed', retried, throttled, failure: { connectionId: ref.connectionId, userId: ref.userId, reason, attempts: retried } };
        }
        await sender.post(ref.connectionId, data, { timeoutMs });
        return { status: 'delivered', retried, throttled };
      } catch (error) {
        if (error instanceof ConnectionGoneError) {
          await this.#remove(ref, limits.context ?? {});
          return { status: 'gone', retried, throttled };
        }
        // The request may have reached the socket: posting it again could deliver it
        // twice. It is in doubt, counted, and left to `recover`; never retried.
        if (error instanceof PostInDoubtError) {
          log.warn('post in doubt', { ...limits.context, connectionId: ref.connectionId, userId: ref.userId, attempts: attempt });
          return { status: 'inDoubt', retried, throttled };
        }
        if (error instanceof ThrottledError) throttled += 1;
        if (isRetryable(error) && (await waitBeforeRetry(this.#timing, attempt, budget, this.#reserveMs))) continue;
        const reason = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        log.warn('post failed', { ...limits.context, connectionId: ref.connectionId, userId: ref.userId, attempts: attempt, reason });
        return {
          status: 'failed',
          retried,
          throttled,
          failure: { connectionId: ref.connectionId, userId: ref.userId, reason, attempts: attempt },
        };
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
}
