import { randomUUID } from 'node:crypto';
import type { NotificationFrame } from '../../../protocol/frames.js';
import { TransientError } from '../errors.js';
import { DeliveryInProgressError } from './notification-delivery.js';
import type { ConnectionRef } from '../model.js';
import type { Clock, DeliveryProgressStore, Log, ShardDispatcher, TimeBudget } from '../ports.js';
import { retryWithinBudget, type RetryTiming } from '../retry.js';
import type { NotificationCounts } from './delivery-ledger.js';
import { TokenBucket, UNLIMITED_POSTS } from './post-quota.js';
import { sumCounts } from './outcome-counts.js';
import { splitIntoShards, type DeliveryJob, type ShardRequest, type ShardState } from './shard-plan.js';
import type { ShardWorker } from './shard-worker.js';

export interface PlannedDeliveryOptions {
  readonly progress: DeliveryProgressStore;
  readonly worker: ShardWorker;
  /** Starts worker invocations; without one, this invocation posts every shard in turn. */
  readonly dispatcher?: ShardDispatcher;
  readonly clock: Clock;
  readonly log: Log;
  readonly timing: RetryTiming;
  readonly reserveMs: number;
  readonly historyTtlSeconds: number;
  readonly shardSize: number;
  /** Posts per second over all the job's workers; 0 for no limit. */
  readonly postsPerSecond: number;
  /** @default 10_000 */
  readonly redispatchAfterMs?: number;
}

/**
 * The shard plan, for audiences larger than one chunk (docs/delivery.md, "Large
 * audiences"): the audience is stored as shards with durable progress, worker
 * invocations post them in parallel, and this invocation watches until every shard is
 * done, so that the next record of the partition never overtakes it on any connection.
 */
export class PlannedDelivery {
  readonly #options: PlannedDeliveryOptions;

  constructor(options: PlannedDeliveryOptions) {
    this.#options = options;
  }

  /** Stores the plan (or finds the one another run stored), then delivers it. */
  async plan(frame: NotificationFrame, audience: readonly ConnectionRef[], budget: TimeBudget, context: Record<string, unknown>): Promise<NotificationCounts> {
    const { progress, clock, shardSize, postsPerSecond, historyTtlSeconds } = this.#options;
    const shards = splitIntoShards(audience, shardSize);
    const plan: DeliveryJob = {
      messageId: frame.messageId,
      planId: randomUUID(),
      data: JSON.stringify(frame),
      shardCount: shards.length,
      targetCount: audience.length,
      plannedAt: clock.now().toISOString(),
      postsPerSecond,
    };
    const created = await this.#storeCall(budget)(() => progress.createJob(plan, shards, historyTtlSeconds));
    if (created) return this.resume(plan, budget, context, shards);
    const job = await this.find(frame.messageId, budget);
    if (!job) throw new TransientError(`the delivery plan of ${frame.messageId} vanished while it was being made`);
    return this.resume(job, budget, context);
  }

  /** The plan stored for `messageId`, if any. */
  find(messageId: string, budget: TimeBudget): Promise<DeliveryJob | undefined> {
    return this.#storeCall(budget)(() => this.#options.progress.getJob(messageId));
  }

  /**
   * Delivers a stored plan from where its shards stand.
   * @param shards - the audience as this run planned it, when it did: each first dispatch
   *   carries its shard's targets and the job, so that a first run reads neither.
   */
  async resume(
    job: DeliveryJob,
    budget: TimeBudget,
    context: Record<string, unknown>,
    shards?: readonly (readonly ConnectionRef[])[],
  ): Promise<NotificationCounts> {
    const states =
      job.shardCount === 1 || !this.#options.dispatcher
        ? await this.#deliverHere(job, budget, context, shards)
        : await this.#deliverByWorkers(job, budget, context, shards);
    return { targets: job.targetCount, shards: job.shardCount, ...sumCounts(states.map((state) => state.counts)) };
  }

  /** Without a dispatcher (and for one shard): this invocation posts each shard in turn. */
  async #deliverHere(
    job: DeliveryJob,
    budget: TimeBudget,
    context: Record<string, unknown>,
    shards?: readonly (readonly ConnectionRef[])[],
  ): Promise<ShardState[]> {
    const quota = job.postsPerSecond > 0 ? new TokenBucket({ ratePerSecond: job.postsPerSecond }) : UNLIMITED_POSTS;
    for (let index = 0; index < job.shardCount; index += 1) {
      const outcome = await this.#options.worker.run(shardRequest(job, index, shards), budget, quota);
      // Time ran out and a worker goes on, or another invocation holds the shard: watch it.
      if ((outcome.status === 'handed-over' || outcome.status === 'busy') && this.#options.dispatcher) {
        return this.#deliverByWorkers(job, budget, context);
      }
      if (outcome.status !== 'done') {
        throw new DeliveryInProgressError(`shard ${index} of ${job.messageId} is ${outcome.status}; the redelivery resumes it`);
      }
    }
    return this.#storeCall(budget)(() => this.#options.progress.listShards(job));
  }

  /**
   * One worker invocation per shard, in parallel, while this one watches their progress.
   * A shard nobody holds for `redispatchAfterMs` (its invocation was lost, or failed for
   * good) is dispatched again; the new run resumes it.
   * @throws DeliveryInProgressError when the budget runs low first.
   */
  async #deliverByWorkers(
    job: DeliveryJob,
    budget: TimeBudget,
    context: Record<string, unknown>,
    shards?: readonly (readonly ConnectionRef[])[],
  ): Promise<ShardState[]> {
    const { dispatcher, clock, log, progress, timing, reserveMs } = this.#options;
    const redispatchAfterMs = this.#options.redispatchAfterMs ?? 10_000;
    const storeCall = this.#storeCall(budget);
    const dispatched = new Map<number, { atMs: number; cursor: number }>();
    // Every shard of a plan made here goes out at once, with its targets; nothing to read first.
    if (shards) {
      const nowMs = clock.now().getTime();
      for (let index = 0; index < job.shardCount; index += 1) {
        await storeCall(() => dispatcher!.dispatch(shardRequest(job, index, shards)));
        dispatched.set(index, { atMs: nowMs, cursor: 0 });
      }
    }
    // Polls cost a request each: the first comes when the posts should be done at the
    // job's rate, the next ones a quarter of that apart (250 ms to 2 s).
    const expectedMs = job.postsPerSecond > 0 ? (job.targetCount * 1000) / job.postsPerSecond : 0;
    const interval = Math.min(2000, Math.max(250, expectedMs / 4));
    if (shards && expectedMs > 0) {
      const wait = Math.min(expectedMs, budget.remainingMs() - reserveMs - interval);
      if (wait > 0) await timing.sleep(wait);
    }
    for (let poll = 1; ; poll += 1) {
      const states = await storeCall(() => progress.listShards(job));
      const pending = states.filter((state) => !state.done);
      if (pending.length === 0 && states.length === job.shardCount) return states;
      const nowMs = clock.now().getTime();
      for (const state of pending) {
        if (state.leaseUntilMs > nowMs) continue;
        // Nobody holds the shard. If it moved since our dispatch, its run stopped (out of
        // time, or crashed and its lease ran out): go on at once. If not, its invocation
        // may still be queued: give it `redispatchAfterMs`.
        const last = dispatched.get(state.index);
        if (last && last.cursor === state.cursor && state.claimedUntil === state.cursor && nowMs - last.atMs < redispatchAfterMs) continue;
        await storeCall(() => dispatcher!.dispatch({ messageId: job.messageId, planId: job.planId, index: state.index }));
        if (last) log.info('shard dispatched again', { ...context, shard: state.index, cursor: state.cursor });
        dispatched.set(state.index, { atMs: nowMs, cursor: state.claimedUntil });
      }
      const pause = expectedMs > 0 ? interval : Math.min(1000, 25 * 2 ** Math.min(poll, 6));
      if (budget.remainingMs() - pause < reserveMs) {
        throw new DeliveryInProgressError(
          `${pending.length} of ${job.shardCount} shards of ${job.messageId} are still being delivered; the redelivery resumes them`,
        );
      }
      await timing.sleep(pause);
    }
  }

  #storeCall(budget: TimeBudget): <T>(work: () => Promise<T>) => Promise<T> {
    return (work) => retryWithinBudget(work, this.#options.timing, budget, this.#options.reserveMs);
  }
}

/** The request for one shard; with the job and its targets when this run planned them. */
function shardRequest(job: DeliveryJob, index: number, shards: readonly (readonly ConnectionRef[])[] | undefined): ShardRequest {
  const key = { messageId: job.messageId, planId: job.planId, index };
  const targets = shards?.[index];
  if (!targets) return key;
  return { ...key, job, targets: targets.map((ref) => [ref.connectionId, ref.userId] as const) };
}
