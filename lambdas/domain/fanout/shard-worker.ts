import { randomUUID } from 'node:crypto';
import type { ChunkPoster } from './chunk-poster.js';
import type { DeliveryReport } from './connection-delivery.js';
import { DEFAULT_LEASE_MS, Lease } from './lease.js';
import { DEFAULT_TIME_RESERVE_MS, retryWithinBudget, type RetryTiming } from '../retry.js';
import { addCounts, emptyCounts, type OutcomeCounts } from './outcome-counts.js';
import type { ShardKey, ShardRequest, ShardState } from './shard-plan.js';
import { TokenBucket, UNLIMITED_POSTS, type PostQuota } from './post-quota.js';
import type { Clock, DeliveryProgressStore, Log, ShardDispatcher, TimeBudget } from '../ports.js';

export interface ShardWorkerOptions {
  readonly progress: DeliveryProgressStore;
  /** Posts a chunk under the shard's lease and dead-letters its failures. */
  readonly poster: ChunkPoster;
  /** Starts a fresh invocation for what this one has no time left for. @default - none: the caller resumes */
  readonly dispatcher?: ShardDispatcher;
  readonly clock: Clock;
  readonly log: Log;
  /**
   * Targets claimed at once. A crash leaves at most this many in doubt; each chunk costs
   * one progress write (completing it claims the next).
   */
  readonly chunkSize: number;
  /** Retries of the progress store. */
  readonly timing: RetryTiming;
  /** @default DEFAULT_TIME_RESERVE_MS */
  readonly reserveMs?: number;
  /**
   * How long a lease lasts past each claim (never past the invocation's end): after a
   * crash, the shard waits at most this long for another run.
   * @default DEFAULT_LEASE_MS
   */
  readonly leaseMs?: number;
}

export { DEFAULT_LEASE_MS, LEASE_MARGIN_MS } from './lease.js';

/** What one run of a shard came to. Counts are this run's only. */
export interface ShardRunOutcome {
  /**
   * `done`: the shard is complete (maybe by an earlier run); `busy`: another invocation
   * holds it, or took it over; `handed-over`: time ran out and a fresh invocation goes on;
   * `out-of-time`: time ran out and nobody was asked to go on (the caller resumes it);
   * `missing`: no such job or shard (expired, or a plan that lost).
   */
  readonly status: 'done' | 'busy' | 'handed-over' | 'out-of-time' | 'missing';
  readonly counts: OutcomeCounts;
}

/**
 * Delivers one shard of a planned job: takes the shard's lease, then claims, posts and
 * completes its targets a chunk at a time. A claim is written before its posts and the
 * completion after them, so a run that dies in between leaves a claim behind; the next
 * run skips that chunk as in doubt rather than posting any of it twice.
 */
export class ShardWorker {
  readonly #options: ShardWorkerOptions;
  readonly #reserveMs: number;

  constructor(options: ShardWorkerOptions) {
    if (!Number.isInteger(options.chunkSize) || options.chunkSize < 1) {
      throw new RangeError(`chunkSize must be a positive integer, got ${options.chunkSize}`);
    }
    this.#options = options;
    this.#reserveMs = options.reserveMs ?? DEFAULT_TIME_RESERVE_MS;
  }

  /**
   * Runs the shard until it is done or the budget runs low.
   * @param quota - posts of this run; @default a bucket at the job's rate split over its shards
   * @throws what the progress store or the dead-letter queue still throws after retries;
   *   the shard's state stays consistent, and the next run resumes it.
   */
  async run(request: ShardRequest, budget: TimeBudget, quota?: PostQuota): Promise<ShardRunOutcome> {
    const key: ShardKey = { messageId: request.messageId, planId: request.planId, index: request.index };
    const job = request.job;
    const { progress, clock, log } = this.#options;
    const counts = emptyCounts();
    const owner = randomUUID();
    const context = { messageId: key.messageId, planId: key.planId, shard: key.index, owner };
    const storeCall = <T>(work: () => Promise<T>) => retryWithinBudget(work, this.#options.timing, budget, this.#reserveMs);

    const planned = job ?? (await storeCall(() => progress.getJob(key.messageId)));
    if (!planned || planned.planId !== key.planId || key.index >= planned.shardCount) {
      log.warn('shard has no job', context);
      return { status: 'missing', counts };
    }
    const nowMs = clock.now().getTime();
    const lease = new Lease(this.#leaseUntil(nowMs, budget), {
      clock,
      log,
      budget,
      leaseMs: this.#options.leaseMs ?? DEFAULT_LEASE_MS,
      renew: (untilMs) => progress.extend(key, owner, untilMs),
    });
    // A first run told its targets takes the lease and claims its first chunk in one
    // write; anything else (a resumed shard, targets to read) goes the long way.
    const given = request.targets?.map(([connectionId, userId]) => ({ connectionId, userId }));
    const firstUntil = given ? Math.min(this.#options.chunkSize, given.length) : 0;
    const claimedAtOnce =
      given && firstUntil > 0 ? await storeCall(() => progress.acquireAndClaim(key, owner, lease.untilMs, nowMs, 0, firstUntil, false)) : undefined;
    const shard = claimedAtOnce ? { ...claimedAtOnce, targets: given } : await storeCall(() => progress.acquire(key, owner, lease.untilMs, nowMs));
    if (!shard) {
      const current = await storeCall(() => progress.getShard(key));
      if (!current) return { status: 'missing', counts };
      return { status: current.done ? 'done' : 'busy', counts };
    }
    if (shard.done) return { status: 'done', counts };
    const targets = shard.targets ?? [];
    let cursor = shard.cursor;

    if (shard.claimedUntil > cursor && !claimedAtOnce) {
      // An earlier run claimed these and stopped before recording them (it crashed or
      // ran out of time mid-chunk). Any of them may have reached its socket: posting
      // them again could deliver twice, so they are left to `recover` from the history.
      const until = shard.claimedUntil;
      if (!(await storeCall(() => progress.abandon(key, owner, cursor, until)))) return { status: 'busy', counts };
      counts.inDoubt += until - cursor;
      log.warn('skipped targets left in doubt by an earlier run', { ...context, from: cursor, until, inDoubt: until - cursor });
      cursor = until;
    }

    const rate = planned.postsPerSecond > 0 ? planned.postsPerSecond / planned.shardCount : 0;
    const posts = quota ?? (rate > 0 ? new TokenBucket({ ratePerSecond: rate }) : UNLIMITED_POSTS);
    const chunkSize = this.#options.chunkSize;
    // A chunk must finish inside the lease: at the quota's pace, and with time to record it.
    const fitsInBudget = (from: number, until: number) => budget.remainingMs() >= this.#reserveMs + (rate > 0 ? ((until - from) * 1000) / rate : 0);
    // What this run has claimed: `[cursor, claimedUntil)`.
    let claimedUntil = claimedAtOnce ? firstUntil : cursor;
    let finished = false;
    while (cursor < shard.total) {
      const from = cursor;
      let until = claimedUntil;
      if (until === from) {
        until = Math.min(from + chunkSize, shard.total);
        if (!fitsInBudget(from, until)) return this.#stop(key, owner, counts, context);
        const extendedUntilMs = this.#leaseUntil(clock.now().getTime(), budget);
        const claimed = await storeCall(() => progress.claim(key, owner, from, until, extendedUntilMs));
        if (!claimed && !(await this.#confirm(key, owner, (s) => s.cursor === from && s.claimedUntil === until, storeCall))) {
          return { status: 'busy', counts };
        }
        lease.movedTo(extendedUntilMs);
      }
      const { report, leaseHeld } = await this.#options.poster.post({
        messageId: key.messageId,
        data: planned.data,
        refs: targets.slice(from, until),
        lease,
        quota: posts,
        budget,
        context: { messageId: key.messageId, shard: key.index },
      });
      if (!leaseHeld) {
        // The lease may have passed to another run, which counts this chunk as in doubt:
        // record nothing, dead-letter nothing, post nothing more.
        log.warn('lease ran out mid-chunk; stopping', { ...context, from, until });
        return { status: 'busy', counts };
      }
      const chunkCounts = countsOf(report);
      const last = until === shard.total;
      // Completing this chunk claims the next one in the same write, when there is time to
      // post it; otherwise the next round stops before claiming anything.
      const nextUntil = Math.min(until + chunkSize, shard.total);
      const next = !last && fitsInBudget(until, nextUntil) ? { until: nextUntil, leaseUntilMs: this.#leaseUntil(clock.now().getTime(), budget) } : undefined;
      if (next) lease.movedTo(next.leaseUntilMs);
      const completed = await storeCall(() => progress.complete(key, owner, from, until, chunkCounts, last, next));
      const stored = next?.until ?? until;
      if (!completed && !(await this.#confirm(key, owner, (s) => s.cursor === until && s.claimedUntil === stored, storeCall))) {
        // Another run took the shard over (our lease had expired) and counts this chunk as
        // in doubt; stop so that only one run ever posts.
        log.warn('lost the shard to another run', { ...context, from, until });
        return { status: 'busy', counts: addCounts(counts, chunkCounts) };
      }
      addCounts(counts, chunkCounts);
      cursor = until;
      claimedUntil = stored;
      finished = last;
    }
    if (!finished) {
      // The in-doubt range reached the end: nothing was left to post, the shard is done.
      const end = shard.total;
      const completed = await storeCall(() => progress.complete(key, owner, end, end, emptyCounts(), true));
      if (!completed && !(await this.#confirm(key, owner, (s) => s.done, storeCall))) return { status: 'busy', counts };
    }
    log.info('shard delivered', { ...context, ...counts });
    return { status: 'done', counts };
  }

  #leaseUntil(nowMs: number, budget: TimeBudget): number {
    return Lease.endFrom(nowMs, this.#options.leaseMs ?? DEFAULT_LEASE_MS, budget);
  }

  async #stop(key: ShardKey, owner: string, counts: OutcomeCounts, context: Record<string, unknown>): Promise<ShardRunOutcome> {
    const { progress, dispatcher, log } = this.#options;
    await progress.release(key, owner).catch(() => {
      // The lease then simply expires with this invocation.
    });
    if (!dispatcher) return { status: 'out-of-time', counts };
    await dispatcher.dispatch(key);
    log.info('shard handed over to a fresh invocation', { ...context, ...counts });
    return { status: 'handed-over', counts };
  }

  // A conditional write that failed may have succeeded on an attempt whose answer was
  // lost; the shard as stored tells.
  async #confirm(key: ShardKey, owner: string, holds: (shard: ShardState) => boolean, storeCall: <T>(work: () => Promise<T>) => Promise<T>): Promise<boolean> {
    const current = await storeCall(() => this.#options.progress.getShard(key));
    return current !== undefined && current.owner === owner && holds(current);
  }
}

function countsOf(report: DeliveryReport): OutcomeCounts {
  const counts = addCounts(emptyCounts(), report);
  // A shard's chunk is done once completed: targets its run never attempted (the lease
  // or the time ran out) are not posted again by a later run, so they count in doubt;
  // their clients heal by position (docs/protocol.md section 11).
  counts.inDoubt += report.unattempted.length;
  return counts;
}
