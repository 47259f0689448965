import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LambdaShardDispatcher } from './adapters/lambda/shard-dispatcher.js';
import { SqsDeadLetterSink } from './adapters/sqs/dead-letter-sink.js';
import { derivedOnce, lazy } from './composition-base.js';
import { createManagementApiSender, getServices, type Services } from './composition.js';
import { tellingRemovals } from './domain/connection-removal.js';
import type { FanoutService } from './domain/fanout/fanout-service.js';
import type { ShardWorker } from './domain/fanout/shard-worker.js';
import type { DeadLetterSink, ShardDispatcher } from './domain/ports.js';
import { wireFanout, wireShardWorker, type FanoutSettings, type ShardWorkerSettings } from './fanout-wiring.js';

/**
 * What the Fanout, FanoutWorker and ServerApi handlers need: the fan-out and the shard
 * worker, over the services. Only the functions that import this module load the SQS
 * and Lambda clients.
 */
export interface FanoutParts {
  readonly services: Services;
  /** Kafka batches (Fanout) and `POST /publish` (ServerApi) alike. */
  readonly fanout: FanoutService;
  /** What a fan-out worker invocation runs. */
  readonly shardWorker: ShardWorker;
  /** The on-failure queue; undefined without DEAD_LETTER_QUEUE_URL (letters are then only logged). */
  readonly deadLetters: DeadLetterSink | undefined;
  /** Worker invocations; undefined without FANOUT_WORKER_FUNCTION_NAME (shards then run in the fan-out). */
  readonly shardDispatcher: ShardDispatcher | undefined;
}

/**
 * The fan-out's parts over `services`, each built on first use. The fan-out and the
 * shard worker read the services' stores and these parts' dead letters when they are
 * built, so a harness may replace any of them before (bench/faults/worker-invocations.ts).
 */
export function composeFanout(services: Services): FanoutParts {
  const { env, config } = services;
  const deadLetters = lazy((): DeadLetterSink | undefined => {
    const queueUrl = env.DEAD_LETTER_QUEUE_URL;
    if (!queueUrl) return undefined;
    // The queue URL's origin is the SQS endpoint, in AWS and at the local runtime alike.
    return new SqsDeadLetterSink({ client: new SQSClient({ endpoint: new URL(queueUrl).origin }), queueUrl });
  });
  const shardDispatcher = lazy((): ShardDispatcher | undefined => {
    const functionName = env.FANOUT_WORKER_FUNCTION_NAME;
    if (!functionName) return undefined;
    return new LambdaShardDispatcher({
      client: new LambdaClient(env.LAMBDA_ENDPOINT ? { endpoint: env.LAMBDA_ENDPOINT } : {}),
      functionName,
    });
  });
  // The fan-out retries posts itself (backoff within the invocation's remaining time,
  // counted in its metrics), so its sender makes one attempt per call.
  const fanoutSender = lazy(() => createManagementApiSender(services, 1));
  // One set of options, shared by the fan-out and the shard worker.
  const options = lazy((): FanoutSettings & ShardWorkerSettings => {
    const letters = parts.deadLetters;
    const dispatcher = parts.shardDispatcher;
    return {
      // A connection removed on a 410 leaves its presence channels (`leave`).
      connections: tellingRemovals(services.connections, services.onConnectionRemoved, services.logger),
      subscriptions: services.subscriptions,
      notifications: services.notifications,
      sender: fanoutSender(),
      ledger: services.deliveryLedger,
      progress: services.deliveryProgress,
      ...(letters ? { deadLetters: letters } : {}),
      ...(dispatcher ? { dispatcher } : {}),
      clock: services.clock,
      log: services.logger,
      concurrency: config.kafka.fanout_concurrency,
      historyTtlSeconds: config.websocket.history_ttl,
      topicChannels: config.kafka.topic_channels,
      shardSize: config.delivery.shard_size,
      postsPerSecond: config.delivery.api_quota_per_second * config.delivery.quota_share,
      retry: { attempts: config.delivery.post_attempts, baseDelayMs: 50, maxDelayMs: 2000 },
      leaseMs: config.delivery.lease_seconds * 1000,
      chunkSize: config.delivery.chunk_size,
    };
  });
  const fanout = lazy(() => wireFanout(options()));
  // A worker that runs out of time releases its shard and stops; the fan-out watching
  // the job dispatches it again (a worker cannot name itself without a template cycle).
  const shardWorker = lazy(() => wireShardWorker({ ...options(), dispatcher: undefined }));
  const parts: FanoutParts = {
    services,
    get fanout() {
      return fanout();
    },
    get shardWorker() {
      return shardWorker();
    },
    get deadLetters() {
      return deadLetters();
    },
    get shardDispatcher() {
      return shardDispatcher();
    },
  };
  return parts;
}

const fanoutPartsOf = derivedOnce(composeFanout);

/** The fan-out's parts of this container, over {@link getServices} (once per cold start). */
export function getFanoutParts(): FanoutParts {
  return fanoutPartsOf(getServices());
}
