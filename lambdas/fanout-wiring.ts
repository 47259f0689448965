import type {
  Clock,
  ConnectionStore,
  DeadLetterSink,
  DeliveryLedger,
  DeliveryProgressStore,
  Log,
  MessageSender,
  NotificationLog,
  ShardDispatcher,
  SubscriptionStore,
} from './domain/ports.js';
import { retryTimingOf, type RetryOptions, type RetryTiming } from './domain/retry.js';
import { ChunkPoster } from './domain/fanout/chunk-poster.js';
import { ConnectionDelivery } from './domain/fanout/connection-delivery.js';
import { FanoutService } from './domain/fanout/fanout-service.js';
import { DEFAULT_LEASE_MS } from './domain/fanout/lease.js';
import { NotificationDelivery } from './domain/fanout/notification-delivery.js';
import { PlannedDelivery } from './domain/fanout/planned-delivery.js';
import { ShardWorker } from './domain/fanout/shard-worker.js';

/**
 * The fan-out's object graph, written once: the composition (composition-fanout.ts), the
 * tests and the benchmarks build a fan-out or a shard worker through these functions, and
 * the domain classes receive their collaborators.
 */

/**
 * What a fan-out is made of: the ports it talks to and its settings, as the composition
 * and the tests hold them. {@link wireFanout} builds the collaborators from them.
 */
export interface FanoutSettings extends RetryOptions {
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  readonly notifications: NotificationLog;
  /** The duplicate check and in-progress marker per messageId. */
  readonly ledger: DeliveryLedger;
  readonly sender: MessageSender;
  readonly clock: Clock;
  readonly log: Log;
  /** Most posts in flight at once, per record (`kafka.fanout_concurrency`). */
  readonly concurrency: number;
  /**
   * Records of a batch delivered at once, where order allows (docs/delivery.md, "Batches").
   * @default DEFAULT_RECORD_CONCURRENCY
   */
  readonly recordConcurrency?: number;
  /** Seconds a notification stays recoverable (`websocket.history_ttl`). */
  readonly historyTtlSeconds: number;
  /**
   * Topic -> channel for records that name no target (`kafka.topic_channels`).
   * @default - every topic maps to the channel of its own name
   */
  readonly topicChannels?: Readonly<Record<string, string>>;
  /**
   * Jobs and shard progress: what lets an audience larger than one chunk go to workers
   * and resume after a crash rather than restart.
   * @default - none: every audience is posted by this invocation, a chunk at a time
   *   (benchmarks); a crash leaves the rest in doubt
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
   * Connections per shard (`delivery.shard_size`).
   * @default DEFAULT_SHARD_SIZE
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
   * Connections claimed, posted and recorded at a time: an audience up to this size takes
   * the lean path (no plan); a crash leaves at most one chunk in doubt (recoverable, never
   * posted twice). Never below `concurrency`, so that a chunk keeps every post slot busy.
   * @default DEFAULT_CHUNK_SIZE
   */
  readonly chunkSize?: number;
  /** How long a lease lasts past each claim, never past the invocation (`delivery.lease_seconds`). @default DEFAULT_LEASE_MS */
  readonly leaseMs?: number;
}

/** Connections per shard unless configured. */
export const DEFAULT_SHARD_SIZE = 1000;

/**
 * Connections per progress write unless configured, and the largest audience the lean
 * path posts: a shard of the default size in one chunk (0.4 s at the default quota
 * share). A crash leaves at most this many in doubt; fewer, larger chunks are what keep
 * a 10,000-subscriber channel under 0.003 requests per delivery. See docs/delivery.md,
 * "What progress costs".
 */
export const DEFAULT_CHUNK_SIZE = 1000;

/** What a worker needs: the fan-out's settings that concern posting one shard. */
export type ShardWorkerSettings = Pick<
  FanoutSettings,
  | 'deadLetters'
  | 'dispatcher'
  | 'sender'
  | 'connections'
  | 'clock'
  | 'log'
  | 'concurrency'
  | 'chunkSize'
  | 'leaseMs'
  | 'retry'
  | 'sleep'
  | 'random'
  | 'reserveMs'
> & { readonly progress: DeliveryProgressStore };

/** A fan-out over `settings`: its lean path and its shards post through one {@link ChunkPoster}. */
export function wireFanout(settings: FanoutSettings): FanoutService {
  const posting = wirePosting(settings);
  const { timing, reserveMs, poster, chunkSize } = posting;
  const leaseMs = settings.leaseMs ?? DEFAULT_LEASE_MS;
  const postsPerSecond = settings.postsPerSecond ?? 0;
  const { progress, dispatcher, deadLetters, clock, log, historyTtlSeconds } = settings;
  const planned = progress
    ? new PlannedDelivery({
        progress,
        worker: shardWorkerOf({ ...settings, progress }, posting),
        ...(dispatcher ? { dispatcher } : {}),
        clock,
        log,
        timing,
        reserveMs,
        historyTtlSeconds,
        shardSize: settings.shardSize ?? DEFAULT_SHARD_SIZE,
        postsPerSecond,
        ...(settings.redispatchAfterMs !== undefined ? { redispatchAfterMs: settings.redispatchAfterMs } : {}),
      })
    : undefined;
  const notification = new NotificationDelivery({
    ledger: settings.ledger,
    notifications: settings.notifications,
    connections: settings.connections,
    subscriptions: settings.subscriptions,
    poster,
    planned,
    clock,
    log,
    timing,
    reserveMs,
    historyTtlSeconds,
    chunkSize,
    leaseMs,
    postsPerSecond,
  });
  return new FanoutService({
    notification,
    clock,
    log,
    timing,
    reserveMs,
    ...(settings.recordConcurrency !== undefined ? { recordConcurrency: settings.recordConcurrency } : {}),
    ...(settings.topicChannels ? { topicChannels: settings.topicChannels } : {}),
    ...(deadLetters ? { deadLetters } : {}),
  });
}

/** The worker a worker invocation runs: the fan-out's posting, over the same stores. */
export function wireShardWorker(settings: ShardWorkerSettings): ShardWorker {
  return shardWorkerOf(settings, wirePosting(settings));
}

/** What both delivery paths share: the retry timing, one connection delivery behind one chunk poster, the chunk size. */
interface Posting {
  readonly timing: RetryTiming;
  readonly reserveMs: number;
  readonly poster: ChunkPoster;
  readonly chunkSize: number;
}

function wirePosting(settings: Omit<ShardWorkerSettings, 'progress' | 'dispatcher' | 'leaseMs'>): Posting {
  const { timing, reserveMs } = retryTimingOf(settings);
  const delivery = new ConnectionDelivery({
    sender: settings.sender,
    connections: settings.connections,
    log: settings.log,
    concurrency: settings.concurrency,
    retry: timing.policy,
    sleep: timing.sleep,
    random: timing.random,
    reserveMs,
  });
  const { deadLetters } = settings;
  const poster = new ChunkPoster({ delivery, ...(deadLetters ? { deadLetters } : {}), clock: settings.clock, timing, reserveMs });
  const chunkSize = Math.max(settings.concurrency, settings.chunkSize ?? DEFAULT_CHUNK_SIZE);
  return { timing, reserveMs, poster, chunkSize };
}

function shardWorkerOf(settings: ShardWorkerSettings, { poster, chunkSize, timing, reserveMs }: Posting): ShardWorker {
  return new ShardWorker({
    progress: settings.progress,
    poster,
    ...(settings.dispatcher ? { dispatcher: settings.dispatcher } : {}),
    clock: settings.clock,
    log: settings.log,
    chunkSize,
    timing,
    reserveMs,
    leaseMs: settings.leaseMs ?? DEFAULT_LEASE_MS,
  });
}
