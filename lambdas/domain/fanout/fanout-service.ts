import { notificationFrame, type NotificationFrame } from '../../../protocol/frames.js';
import type { ProducerRecord, Target } from '../../../protocol/records.js';
import { formatZodIssues } from '../../../protocol/zod-issues.js';
import { NotificationServiceError } from '../errors.js';
import type { Clock, DeadLetterSink, Log, TimeBudget } from '../ports.js';
import { retryWithinBudget, UNLIMITED_TIME, type RetryTiming } from '../retry.js';
import { targetOf } from './audience.js';
import { runBatch } from './batch.js';
import { DEAD_LETTER_VALUE_LIMIT, type RecordDeadLetter } from './dead-letters.js';
import { messageIdOf } from './message-id.js';
import type { NotificationDelivery, NotificationOutcome } from './notification-delivery.js';
import { addCounts, emptyCounts, type OutcomeCounts } from './outcome-counts.js';
import { isReadable, type RecordPosition, type SourceRecord } from './source-record.js';

export { DeliveryInProgressError, type NotificationOutcome } from './notification-delivery.js';
export type { NotificationCounts } from './delivery-ledger.js';

export interface FanoutServiceOptions {
  /** One notification's delivery: the ledger, the lean path and the shard plan, wired (lambdas/fanout-wiring.ts). */
  readonly notification: NotificationDelivery;
  readonly clock: Clock;
  readonly log: Log;
  /** Retries of the on-failure queue when a record is set aside. */
  readonly timing: RetryTiming;
  readonly reserveMs: number;
  /**
   * Records of a batch delivered at once, where order allows (docs/delivery.md, "Batches").
   * @default DEFAULT_RECORD_CONCURRENCY
   */
  readonly recordConcurrency?: number;
  /**
   * Topic -> channel for records that name no target (`kafka.topic_channels`).
   * @default - every topic maps to the channel of its own name
   */
  readonly topicChannels?: Readonly<Record<string, string>>;
  /**
   * Where invalid records go (the on-failure queue). The notification's delivery sends
   * failed posts to the same queue, so each failed post counts as dead-lettered too.
   * @default - none: they are logged only
   */
  readonly deadLetters?: DeadLetterSink;
}

/**
 * Records of one batch in flight at once. A user-targeted record spends most of its time
 * waiting on DynamoDB and the Management API, so a few dozen overlap well on one vCPU;
 * each still posts at most `concurrency` at a time (benchmarks: the batch ratio).
 */
export const DEFAULT_RECORD_CONCURRENCY = 32;

/** A record set aside, and why. */
export interface InvalidRecordReport extends RecordPosition {
  readonly reason: string;
}

/** A record whose processing failed (or is still in progress); its partition is retried from it. */
export interface FailedRecordReport extends RecordPosition {
  readonly error: string;
}

/** What one batch came to: the post counts (added up over the records) and the records'. */
export interface FanoutSummary extends OutcomeCounts {
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

export interface FanoutOutcome {
  readonly summary: FanoutSummary;
  /**
   * The first record of each partition that failed unexpectedly. The records after it
   * in that partition were not attempted (or were, and the redelivery finds them done):
   * Kafka redelivers the partition from it.
   */
  readonly failedRecords: FailedRecordReport[];
}

/**
 * Fans producer records out to WebSocket connections (protocol section 6): resolves
 * each record's audience, and delivers it once per connection ({@link NotificationDelivery}),
 * records of a batch side by side where the order per connection allows ({@link runBatch}).
 */
export class FanoutService {
  readonly #options: FanoutServiceOptions;
  readonly #notification: NotificationDelivery;

  constructor(options: FanoutServiceOptions) {
    this.#options = options;
    this.#notification = options.notification;
  }

  /**
   * Delivers a batch. An unreadable record is dead-lettered, reported in `invalid` and
   * skipped; it never holds up the records after it. A record whose processing throws,
   * or whose shards are still being delivered when the budget runs low, is reported in
   * `failedRecords`, and the records after it in its partition that might reach the same
   * connections wait for the retry, so that per connection the order of a partition holds.
   */
  async fanOut(records: readonly SourceRecord[], budget: TimeBudget = UNLIMITED_TIME): Promise<FanoutOutcome> {
    const summary: FanoutSummary = {
      records: records.length,
      targets: 0,
      ...emptyCounts(),
      deadLettered: 0,
      duplicates: 0,
      invalid: [],
    };
    const { log, topicChannels } = this.#options;
    const prepared = records.map((source) => {
      const position = { topic: source.topic, partition: source.partition, offset: source.offset };
      if (!isReadable(source)) return { source, position, target: source.reason };
      return { source, position, target: targetOf(source.record, source.topic, topicChannels) };
    });
    const failures = await runBatch(prepared, {
      limit: this.#options.recordConcurrency ?? DEFAULT_RECORD_CONCURRENCY,
      laneOf: ({ position }) => `${position.topic}\u0000${position.partition}`,
      overlapOf: ({ target }) =>
        typeof target === 'string' ? { kind: 'none' } : target.kind === 'user' ? { kind: 'key', key: target.userId } : { kind: 'everyone' },
      run: async ({ source, position, target }) => {
        if (typeof target === 'string') return this.#setAside(summary, position, target, source.value, budget);
        if (!isReadable(source)) return;
        const messageId = messageIdOf(source.record, target);
        let outcome: NotificationOutcome;
        try {
          outcome = await this.#notification.deliver(this.#frameFor(source.record, target, messageId), target, position, budget);
        } catch (error) {
          if (!(error instanceof InvalidNotificationError)) throw error;
          return this.#setAside(summary, position, error.message, source.value, budget);
        }
        if (outcome.status === 'duplicate') {
          summary.duplicates += 1;
          return;
        }
        summary.targets += outcome.targets;
        addCounts(summary, outcome);
        if (this.#options.deadLetters) summary.deadLettered += outcome.failed;
      },
    });
    const failedRecords: FailedRecordReport[] = [];
    for (const { item, error } of failures.values()) {
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      failedRecords.push({ ...item.position, error: message });
      log.error('record failed; its partition will be redelivered from it', {
        ...item.position,
        messageId: isReadable(item.source) ? item.source.record.messageId : undefined,
        error: message,
      });
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
    const target = targetOf(record, undefined);
    if (typeof target === 'string') throw new InvalidNotificationError(target);
    return this.#notification.deliver(this.#frameFor(record, target, messageIdOf(record, target)), target, undefined, budget);
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
    if (deadLetters) await retryWithinBudget(() => deadLetters.send([letter]), this.#options.timing, budget, this.#options.reserveMs);
    summary.invalid.push({ ...position, reason });
    if (deadLetters) summary.deadLettered += 1;
    log.warn('record set aside', { ...position, reason, outcome: 'dead-lettered' });
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
      const issues = formatZodIssues(checked.error);
      throw new InvalidNotificationError(`the notification frame is not valid: ${issues.join('; ')}`);
    }
    return checked.data;
  }
}

/** A notification that can never be delivered as it stands; retrying will not help. */
export class InvalidNotificationError extends NotificationServiceError {}
