import { randomUUID } from 'node:crypto';
import { isValidChannelName } from '../protocol/channels.js';
import { notificationFrame, type NotificationFrame } from '../protocol/frames.js';
import type { ProducerRecord, Target } from '../protocol/records.js';
import { ConnectionDelivery, type DeliveryCounts, type RetryPolicy } from './delivery.js';
import { NotificationServiceError } from './errors.js';
import { messageIdForPosition } from './fanout-message-id.js';
import { isReadable, type RecordPosition, type SourceRecord } from './fanout-record.js';
import type { ConnectionRef } from './model.js';
import type {
  Clock,
  ConnectionStore,
  Deduplicator,
  Log,
  MessageSender,
  NotificationLog,
  SubscriptionStore,
} from './ports.js';

export interface FanoutServiceOptions {
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
  /** @default DEFAULT_RETRY_POLICY */
  readonly retry?: RetryPolicy;
  /** Waits between post attempts; injectable so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** [0, 1) for backoff jitter; injectable for tests. */
  readonly random?: () => number;
}

/** A record set aside, and why. */
export interface InvalidRecordReport extends RecordPosition {
  readonly reason: string;
}

/** A record whose processing failed unexpectedly; its partition is retried from it. */
export interface FailedRecordReport extends RecordPosition {
  readonly error: string;
}

/** What one batch came to. Post counts add up over the records. */
export interface FanoutSummary {
  /** Records in the batch, whatever became of them. */
  records: number;
  /** Connections targeted by the records that were delivered (not duplicates). */
  targets: number;
  delivered: number;
  gone: number;
  failed: number;
  /** Records whose messageId had already been delivered. */
  duplicates: number;
  invalid: InvalidRecordReport[];
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
  | ({ readonly status: 'delivered'; readonly messageId: string; readonly target: Target } & DeliveryCounts)
  | { readonly status: 'duplicate'; readonly messageId: string; readonly target: Target };

/**
 * Fans producer records out to WebSocket connections (protocol section 6): resolves
 * each record's audience, keeps the notification for `recover`, posts it to every
 * connection of the audience once, and reports what became of it.
 */
export class FanoutService {
  readonly #options: FanoutServiceOptions;
  readonly #delivery: ConnectionDelivery;

  constructor(options: FanoutServiceOptions) {
    this.#options = options;
    this.#delivery = new ConnectionDelivery({
      sender: options.sender,
      connections: options.connections,
      log: options.log,
      concurrency: options.concurrency,
      ...(options.retry ? { retry: options.retry } : {}),
      ...(options.sleep ? { sleep: options.sleep } : {}),
      ...(options.random ? { random: options.random } : {}),
    });
  }

  /**
   * Delivers a batch in order. An unreadable record is reported in `invalid` and
   * skipped; it never holds up the records after it. A record whose processing throws
   * is reported in `failedRecords`, and the rest of its partition waits for the retry,
   * so that per connection the order of a partition holds.
   */
  async fanOut(records: readonly SourceRecord[]): Promise<FanoutOutcome> {
    const summary: FanoutSummary = { records: records.length, targets: 0, delivered: 0, gone: 0, failed: 0, duplicates: 0, invalid: [] };
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
      if (!isReadable(source)) {
        summary.invalid.push({ ...position, reason: source.reason });
        log.warn('record set aside', { ...position, reason: source.reason });
        continue;
      }
      const target = this.#targetOf(source.record, source.topic);
      if (typeof target === 'string') {
        summary.invalid.push({ ...position, reason: target });
        log.warn('record set aside', { ...position, reason: target });
        continue;
      }
      try {
        const outcome = await this.#deliverOnce(source.record, target, source.record.messageId ?? messageIdForPosition(position), position);
        if (outcome.status === 'duplicate') {
          summary.duplicates += 1;
        } else {
          summary.targets += outcome.targets;
          summary.delivered += outcome.delivered;
          summary.gone += outcome.gone;
          summary.failed += outcome.failed;
        }
      } catch (error) {
        if (error instanceof InvalidNotificationError) {
          summary.invalid.push({ ...position, reason: error.message });
          log.warn('record set aside', { ...position, reason: error.message });
          continue;
        }
        haltedPartitions.add(partitionKey);
        const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
        failedRecords.push({ ...position, error: message });
        log.error('record failed; its partition will be redelivered from it', {
          ...position,
          messageId: source.record.messageId,
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
  async publish(record: ProducerRecord): Promise<NotificationOutcome> {
    const target = this.#targetOf(record, undefined);
    if (typeof target === 'string') throw new InvalidNotificationError(target);
    return this.#deliverOnce(record, target, record.messageId ?? randomUUID(), undefined);
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
  ): Promise<NotificationOutcome> {
    const { deduplicator, log } = this.#options;
    const frame = this.#frameFor(record, target, messageId);
    const context = { messageId, ...position, target: describeTarget(target) };
    const once = await deduplicator.once(messageId, () => this.#keepAndPost(frame, target, context));
    if (once.duplicate) {
      log.info('notification already delivered', { ...context, outcome: 'duplicate' });
      return { status: 'duplicate', messageId, target };
    }
    log.info('notification delivered', { ...context, outcome: 'delivered', ...once.result });
    return { status: 'delivered', messageId, target, ...once.result };
  }

  // The notification is kept before any post: a user who is offline, or whose post
  // fails, can still recover it.
  async #keepAndPost(frame: NotificationFrame, target: Target, context: Record<string, unknown>): Promise<DeliveryCounts> {
    const { notifications, historyTtlSeconds } = this.#options;
    await notifications.append({ messageId: frame.messageId, acceptedAt: frame.timestamp, frame }, [target], historyTtlSeconds);
    return this.#delivery.deliver(this.#audienceOf(target), JSON.stringify(frame), context);
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
