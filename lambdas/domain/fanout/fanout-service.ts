import { randomUUID } from 'node:crypto';
import { isValidChannelName } from '../../protocol/channels.js';
import { notificationFrame, type NotificationFrame } from '../../protocol/frames.js';
import type { ProducerRecord, Target } from '../../protocol/records.js';
import { ConnectionDelivery } from './connection-delivery.js';
import { NotificationServiceError, TransientError } from '../errors.js';
import { DEAD_LETTER_VALUE_LIMIT, type RecordDeadLetter } from './dead-letters.js';
import { messageIdForPosition } from './message-id.js';
import { isReadable, type RecordPosition, type SourceRecord } from './source-record.js';
import { retryTimingOf, retryWithinBudget, UNLIMITED_TIME, type RetryOptions, type RetryTiming } from '../retry.js';
import { addShardCounts, emptyShardCounts, splitIntoShards, type DeliveryJob, type ShardCounts, type ShardState } from './shard-plan.js';
import { ShardWorker } from './shard-worker.js';
import type { ConnectionRef } from '../model.js';
import { TokenBucket, UNLIMITED_POSTS } from './post-quota.js';
import type {
  Clock,
  ConnectionStore,
  DeadLetterSink,
  Deduplicator,
  DeliveryProgressStore,
  Log,
  MessageSender,
  NotificationLog,
  ShardDispatcher,
  SubscriptionStore,
  TimeBudget,
} from '../ports.js';

export interface FanoutServiceOptions extends RetryOptions {
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  readonly notifications: NotificationLog;
  readonly sender: MessageSender;
  readonly deduplicator: Deduplicator;
  readonly clock: Clock;
  readonly log: Log;
  /** Most posts in flight at once (`kafka.fanout_concurrency`). */
  readonly concurrency: number;
  /** Seconds a notification stays recoverable (`websocket.history_ttl`). */
  readonly historyTtlSeconds: number;
  /**
   * Topic -> channel for records that name no target (`kafka.topic_channels`).
   * @default - every topic maps to the channel of its own name
   */
  readonly topicChannels?: Readonly<Record<string, string>>;
  /**
   * Jobs and shard progress: what makes a crash resume rather than restart, and large
   * audiences go to workers.
   * @default - none: each notification is posted straight from the audience listing, in
   *   this invocation; a crash mid-way re-posts on the retry (benchmarks, the library API)
   */
  readonly progress?: DeliveryProgressStore;
  /**
   * Where invalid records and failed posts go (the on-failure queue).
   * @default - none: they are logged only
   */
  readonly deadLetters?: DeadLetterSink;
  /**
   * Starts worker invocations for the shards of a large audience.
   * @default - none: every shard is delivered in this invocation, one after the other
   */
  readonly dispatcher?: ShardDispatcher;
  /**
   * Connections per shard (`delivery.shard_size`); an audience up to this size is
   * delivered by the fan-out itself, a larger one by workers in parallel.
   * @default 1000
   */
  readonly shardSize?: number;
  /**
   * Posts per second one record's delivery may make, over all its workers: its share of
   * API Gateway's account quota. 0 for no limit.
   * @default 0
   */
  readonly postsPerSecond?: number;
  /**
   * How long a dispatched shard may go without anybody holding its lease before the
   * fan-out dispatches it again (the invocation was lost or failed for good).
   * @default 10_000
   */
  readonly redispatchAfterMs?: number;
  /**
   * Connections a worker claims, posts and records at a time: each chunk costs one
   * progress write, and a crash leaves at most one chunk in doubt (recoverable, never
   * posted twice). Never below `concurrency`, so that a chunk keeps every post slot busy.
   * @default DEFAULT_CHUNK_SIZE
   */
  readonly chunkSize?: number;
}

/** Connections per shard unless configured. */
export const DEFAULT_SHARD_SIZE = 1000;

/**
 * Connections per progress write unless configured: about a second of posting for one
 * of four workers at the default quota share (2,500 posts/s), a tenth of a second for a
 * fan-out posting alone. See docs/delivery.md, "What progress costs".
 */
export const DEFAULT_CHUNK_SIZE = 250;

/** A record set aside, and why. */
export interface InvalidRecordReport extends RecordPosition {
  readonly reason: string;
}

/** A record whose processing failed (or is still in progress); its partition is retried from it. */
export interface FailedRecordReport extends RecordPosition {
  readonly error: string;
}

/** What one batch came to: the post counts (added up over the records) and the records'. */
export interface FanoutSummary extends ShardCounts {
  /** Records in the batch, whatever became of them. */
  records: number;
  /** Connections targeted by the records that were delivered (not duplicates). */
  targets: number;
  /** Letters sent to the on-failure queue: invalid records and failed posts. */
  deadLettered: number;
  /** Records whose messageId had already been delivered. */
  duplicates: number;
  invalid: InvalidRecordReport[];
}

/** What became of the posts of one notification. */
export interface NotificationCounts extends ShardCounts {
  /** Connections the notification was meant for (each once). */
  targets: number;
  /** Shards its audience was split into (0 when it had none). */
  shards: number;
}

export interface FanoutOutcome {
  readonly summary: FanoutSummary;
  /**
   * The first record of each partition that failed unexpectedly. The records after it
   * in that partition were not attempted: Kafka redelivers the partition from it.
   */
  readonly failedRecords: FailedRecordReport[];
}

/** What became of one notification. */
export type NotificationOutcome =
  | ({ readonly status: 'delivered'; readonly messageId: string; readonly target: Target } & NotificationCounts)
  | { readonly status: 'duplicate'; readonly messageId: string; readonly target: Target };

/**
 * Fans producer records out to WebSocket connections (protocol section 6): resolves
 * each record's audience, keeps the notification for `recover`, plans its delivery
 * durably, posts it to every connection of the audience at most once (a large audience
 * in shards, by worker invocations in parallel), and reports what became of it.
 */
export class FanoutService {
  readonly #options: FanoutServiceOptions;
  /** Undefined without a progress store. */
  readonly #worker: ShardWorker | undefined;
  readonly #delivery: ConnectionDelivery;
  readonly #timing: RetryTiming;
  readonly #reserveMs: number;

  constructor(options: FanoutServiceOptions) {
    this.#options = options;
    ({ timing: this.#timing, reserveMs: this.#reserveMs } = retryTimingOf(options));
    const { worker, delivery } = createShardWorker(options);
    this.#worker = worker;
    this.#delivery = delivery;
  }

  /**
   * Delivers a batch in order. An unreadable record is dead-lettered, reported in
   * `invalid` and skipped; it never holds up the records after it. A record whose
   * processing throws, or whose shards are still being delivered when the budget runs
   * low, is reported in `failedRecords`, and the rest of its partition waits for the
   * retry, so that per connection the order of a partition holds.
   */
  async fanOut(records: readonly SourceRecord[], budget: TimeBudget = UNLIMITED_TIME): Promise<FanoutOutcome> {
    const summary: FanoutSummary = {
      records: records.length,
      targets: 0,
      delivered: 0,
      gone: 0,
      failed: 0,
      inDoubt: 0,
      retried: 0,
      throttled: 0,
      deadLettered: 0,
      duplicates: 0,
      invalid: [],
    };
    const failedRecords: FailedRecordReport[] = [];
    const haltedPartitions = new Set<string>();
    const { log } = this.#options;

    for (const source of records) {
      const position = { topic: source.topic, partition: source.partition, offset: source.offset };
      const partitionKey = `${source.topic}\u0000${source.partition}`;
      if (haltedPartitions.has(partitionKey)) {
        log.debug('record left for redelivery', { ...position, reason: 'an earlier record of its partition failed' });
        continue;
      }
      try {
        if (!isReadable(source)) {
          await this.#setAside(summary, position, source.reason, source.value, budget);
          continue;
        }
        const target = this.#targetOf(source.record, source.topic);
        if (typeof target === 'string') {
          await this.#setAside(summary, position, target, source.value, budget);
          continue;
        }
        const messageId = source.record.messageId ?? messageIdForPosition(position);
        let outcome: NotificationOutcome;
        try {
          outcome = await this.#deliverOnce(source.record, target, messageId, position, budget);
        } catch (error) {
          if (!(error instanceof InvalidNotificationError)) throw error;
          await this.#setAside(summary, position, error.message, source.value, budget);
          continue;
        }
        if (outcome.status === 'duplicate') {
          summary.duplicates += 1;
        } else {
          summary.targets += outcome.targets;
          summary.delivered += outcome.delivered;
          summary.gone += outcome.gone;
          summary.failed += outcome.failed;
          summary.inDoubt += outcome.inDoubt;
          summary.retried += outcome.retried;
          summary.throttled += outcome.throttled;
          if (this.#options.deadLetters) summary.deadLettered += outcome.failed;
        }
      } catch (error) {
        haltedPartitions.add(partitionKey);
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        failedRecords.push({ ...position, error: message });
        log.error('record failed; its partition will be redelivered from it', {
          ...position,
          messageId: isReadable(source) ? source.record.messageId : undefined,
          error: message,
        });
      }
    }
    return { summary, failedRecords };
  }

  /**
   * Delivers one notification that does not come from Kafka (the library API): the
   * same audience rules, history and duplicate check as a record.
   * @param record - must name its target (`targetUserId`, `channel` or `broadcast`).
   * @throws NotificationServiceError when it names none or its frame is not valid.
   */
  async publish(record: ProducerRecord, budget: TimeBudget = UNLIMITED_TIME): Promise<NotificationOutcome> {
    const target = this.#targetOf(record, undefined);
    if (typeof target === 'string') throw new InvalidNotificationError(target);
    return this.#deliverOnce(record, target, record.messageId ?? randomUUID(), undefined, budget);
  }

  // A record that can never be delivered goes to the on-failure queue with its reason, so
  // that its partition moves on and an operator can still see it. If the queue cannot
  // take it, the record fails like any other: dropping it unseen would lose it.
  async #setAside(summary: FanoutSummary, position: RecordPosition, reason: string, value: string | undefined, budget: TimeBudget): Promise<void> {
    const { deadLetters, clock, log } = this.#options;
    const letter: RecordDeadLetter = {
      kind: 'record',
      ...position,
      reason,
      ...(value !== undefined ? { value: value.slice(0, DEAD_LETTER_VALUE_LIMIT) } : {}),
      at: clock.now().toISOString(),
    };
    if (deadLetters) await retryWithinBudget(() => deadLetters.send([letter]), this.#timing, budget, this.#reserveMs);
    summary.invalid.push({ ...position, reason });
    if (deadLetters) summary.deadLettered += 1;
    log.warn('record set aside', { ...position, reason, outcome: 'dead-lettered' });
  }

  /** The audience of a record, or the reason it has none. */
  #targetOf(record: ProducerRecord, topic: string | undefined): Target | string {
    if (record.targetUserId !== undefined) return { kind: 'user', userId: record.targetUserId };
    if (record.channel !== undefined) return { kind: 'channel', channel: record.channel };
    if (record.broadcast) return { kind: 'broadcast' };
    if (topic === undefined) return 'the notification names no target (targetUserId, channel or broadcast)';
    const channel = this.#options.topicChannels?.[topic] ?? topic;
    if (!isValidChannelName(channel)) {
      return `the record names no target and its topic "${topic}" maps to "${channel}", which is not a channel name; map the topic in kafka.topic_channels`;
    }
    return { kind: 'channel', channel };
  }

  async #deliverOnce(
    record: ProducerRecord,
    target: Target,
    messageId: string,
    position: RecordPosition | undefined,
    budget: TimeBudget,
  ): Promise<NotificationOutcome> {
    const { deduplicator, log } = this.#options;
    const frame = this.#frameFor(record, target, messageId);
    const context = { messageId, ...position, target: describeTarget(target) };
    const startedAt = performance.now();
    const once = await deduplicator.once(messageId, () => this.#deliverJob(frame, target, context, budget));
    const durationMs = Math.round(performance.now() - startedAt);
    if (once.duplicate) {
      log.info('notification already delivered', { ...context, outcome: 'duplicate', durationMs });
      return { status: 'duplicate', messageId, target };
    }
    log.info('notification delivered', { ...context, outcome: 'delivered', durationMs, ...once.result });
    return { status: 'delivered', messageId, target, ...once.result };
  }

  /**
   * Plans the delivery once (a redelivery finds the plan and resumes it), then delivers
   * it. The notification is kept before the plan: a user who is offline, whose post
   * fails or is in doubt, can still recover it.
   */
  async #deliverJob(frame: NotificationFrame, target: Target, context: Record<string, unknown>, budget: TimeBudget): Promise<NotificationCounts> {
    const { progress, notifications, historyTtlSeconds, clock, log } = this.#options;
    const storeCall = <T>(work: () => Promise<T>) => retryWithinBudget(work, this.#timing, budget, this.#reserveMs);
    if (!progress) return this.#deliverWithoutProgress(frame, target, context, budget);
    let job = await storeCall(() => progress.getJob(frame.messageId));
    if (job) {
      log.info('resuming a planned delivery', { ...context, planId: job.planId, shards: job.shardCount });
    } else {
      await storeCall(() =>
        notifications.append({ messageId: frame.messageId, acceptedAt: frame.timestamp, frame }, [target], historyTtlSeconds),
      );
      const audience = await storeCall(() => this.#readAudience(target));
      if (audience.length === 0) return { targets: 0, shards: 0, ...emptyShardCounts() };
      const shards = splitIntoShards(audience, this.#options.shardSize ?? DEFAULT_SHARD_SIZE);
      const plan: DeliveryJob = {
        messageId: frame.messageId,
        planId: randomUUID(),
        data: JSON.stringify(frame),
        shardCount: shards.length,
        targetCount: audience.length,
        plannedAt: clock.now().toISOString(),
        postsPerSecond: this.#options.postsPerSecond ?? 0,
      };
      const created = await storeCall(() => progress.createJob(plan, shards, historyTtlSeconds));
      job = created ? plan : await storeCall(() => progress.getJob(frame.messageId));
      if (!job) throw new TransientError(`the delivery plan of ${frame.messageId} vanished while it was being made`);
    }
    const states = job.shardCount === 1 || !this.#options.dispatcher ? await this.#deliverHere(job, budget) : await this.#deliverByWorkers(job, budget, context);
    const counts = states.reduce((sum, state) => addShardCounts(sum, state.counts), emptyShardCounts());
    return { targets: job.targetCount, shards: job.shardCount, ...counts };
  }

  async #deliverWithoutProgress(frame: NotificationFrame, target: Target, context: Record<string, unknown>, budget: TimeBudget): Promise<NotificationCounts> {
    const { notifications, historyTtlSeconds } = this.#options;
    await retryWithinBudget(
      () => notifications.append({ messageId: frame.messageId, acceptedAt: frame.timestamp, frame }, [target], historyTtlSeconds),
      this.#timing,
      budget,
      this.#reserveMs,
    );
    const quota = this.#options.postsPerSecond ? new TokenBucket({ ratePerSecond: this.#options.postsPerSecond }) : UNLIMITED_POSTS;
    const { failures, ...report } = await this.#delivery.deliver(this.#audienceOf(target), JSON.stringify(frame), { context, budget, quota });
    const { deadLetters, clock } = this.#options;
    if (deadLetters && failures.length > 0) {
      const at = clock.now().toISOString();
      await retryWithinBudget(
        () => deadLetters.send(failures.map((failure) => ({ kind: 'post' as const, messageId: frame.messageId, at, ...failure }))),
        this.#timing,
        budget,
        this.#reserveMs,
      );
    }
    return { ...report, inDoubt: 0, shards: report.targets > 0 ? 1 : 0 };
  }

  /** Small audiences (and every audience without a dispatcher): this invocation posts. */
  async #deliverHere(job: DeliveryJob, budget: TimeBudget): Promise<ShardState[]> {
    const quota = job.postsPerSecond > 0 ? new TokenBucket({ ratePerSecond: job.postsPerSecond }) : UNLIMITED_POSTS;
    for (let index = 0; index < job.shardCount; index += 1) {
      const outcome = await this.#worker!.run({ messageId: job.messageId, planId: job.planId, index }, budget, quota, job);
      // Time ran out and a worker goes on, or another invocation holds the shard: watch it.
      if ((outcome.status === 'handed-over' || outcome.status === 'busy') && this.#options.dispatcher) {
        return this.#deliverByWorkers(job, budget, { messageId: job.messageId });
      }
      if (outcome.status !== 'done') {
        throw new DeliveryInProgressError(`shard ${index} of ${job.messageId} is ${outcome.status}; the redelivery resumes it`);
      }
    }
    return retryWithinBudget(() => this.#options.progress!.listShards(job), this.#timing, budget, this.#reserveMs);
  }

  /**
   * Large audiences: one worker invocation per shard, in parallel, while this one
   * watches their progress. A shard nobody holds for `redispatchAfterMs` (its invocation
   * was lost, or failed for good) is dispatched again; the new run resumes it. The
   * record is only done when every shard is, so that the next record of the partition
   * never overtakes it on any connection.
   * @throws DeliveryInProgressError when the budget runs low first.
   */
  async #deliverByWorkers(job: DeliveryJob, budget: TimeBudget, context: Record<string, unknown>): Promise<ShardState[]> {
    const { dispatcher, clock, log } = this.#options;
    const progress = this.#options.progress!;
    const redispatchAfterMs = this.#options.redispatchAfterMs ?? 10_000;
    const storeCall = <T>(work: () => Promise<T>) => retryWithinBudget(work, this.#timing, budget, this.#reserveMs);
    const dispatched = new Map<number, { atMs: number; cursor: number }>();
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
      const pause = Math.min(1000, 25 * 2 ** Math.min(poll, 6));
      if (budget.remainingMs() - pause < this.#reserveMs) {
        throw new DeliveryInProgressError(
          `${pending.length} of ${job.shardCount} shards of ${job.messageId} are still being delivered; the redelivery resumes them`,
        );
      }
      await this.#timing.sleep(pause);
    }
  }

  async #readAudience(target: Target): Promise<ConnectionRef[]> {
    const byId = new Map<string, ConnectionRef>();
    for await (const page of this.#audienceOf(target)) {
      for (const ref of page) if (!byId.has(ref.connectionId)) byId.set(ref.connectionId, { connectionId: ref.connectionId, userId: ref.userId });
    }
    return [...byId.values()];
  }

  #frameFor(record: ProducerRecord, target: Target, messageId: string): NotificationFrame {
    const frame = {
      messageId,
      type: 'notification' as const,
      payload: record.payload,
      timestamp: this.#options.clock.now().toISOString(),
      ...(target.kind === 'user' ? { targetUserId: target.userId } : {}),
      ...(target.kind === 'channel' ? { channel: target.channel } : {}),
      ...(target.kind === 'broadcast' ? { broadcast: true as const } : {}),
    };
    const checked = notificationFrame.safeParse(frame);
    if (!checked.success) {
      const issues = checked.error.issues.map((issue) => `${issue.path.map(String).join('.') || '(root)'}: ${issue.message}`);
      throw new InvalidNotificationError(`the notification frame is not valid: ${issues.join('; ')}`);
    }
    return checked.data;
  }

  #audienceOf(target: Target): AsyncIterable<readonly ConnectionRef[]> {
    const { connections, subscriptions } = this.#options;
    switch (target.kind) {
      case 'user':
        return singlePage(() => connections.listByUser(target.userId));
      case 'channel':
        return subscriptions.listSubscribers(target.channel);
      case 'broadcast':
        return connections.listAll();
    }
  }
}

/** What a worker needs: the fan-out's options that concern posting one shard. */
export type ShardWorkerParts = Pick<
  FanoutServiceOptions,
  | 'progress'
  | 'deadLetters'
  | 'dispatcher'
  | 'sender'
  | 'connections'
  | 'clock'
  | 'log'
  | 'concurrency'
  | 'chunkSize'
  | 'retry'
  | 'sleep'
  | 'random'
  | 'reserveMs'
>;

/**
 * The worker a fan-out and a worker invocation share: the same delivery and store.
 * `worker` is undefined without a progress store.
 */
export function createShardWorker(options: ShardWorkerParts): { worker: ShardWorker | undefined; delivery: ConnectionDelivery } {
  const { timing, reserveMs } = retryTimingOf(options);
  const delivery = new ConnectionDelivery({
    sender: options.sender,
    connections: options.connections,
    log: options.log,
    concurrency: options.concurrency,
    retry: timing.policy,
    sleep: timing.sleep,
    random: timing.random,
    reserveMs,
  });
  if (!options.progress) return { worker: undefined, delivery };
  const worker = new ShardWorker({
    progress: options.progress,
    delivery,
    deadLetters: options.deadLetters ?? { send: async () => {} },
    ...(options.dispatcher ? { dispatcher: options.dispatcher } : {}),
    clock: options.clock,
    log: options.log,
    chunkSize: Math.max(options.concurrency, options.chunkSize ?? DEFAULT_CHUNK_SIZE),
    timing,
    reserveMs,
  });
  return { worker, delivery };
}

/** The record's shards are still being delivered; retrying the record resumes them. */
export class DeliveryInProgressError extends TransientError {}

/** A notification that can never be delivered as it stands; retrying will not help. */
export class InvalidNotificationError extends NotificationServiceError {}

function describeTarget(target: Target): string {
  switch (target.kind) {
    case 'user':
      return `user:${target.userId}`;
    case 'channel':
      return `channel:${target.channel}`;
    case 'broadcast':
      return 'broadcast';
  }
}

async function* singlePage<T>(read: () => Promise<T[]>): AsyncIterable<T[]> {
  yield await read();
}
