import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { ApiGatewayMessageSender } from './adapters/apigateway/message-sender.js';
import { DynamoDbConnectionStore } from './adapters/dynamodb/connection-store.js';
import { DynamoDbDeliveryProgressStore } from './adapters/dynamodb/delivery-progress-store.js';
import { DynamoDbNotificationLog } from './adapters/dynamodb/notification-log.js';
import { DynamoDbPresenceStore } from './adapters/dynamodb/presence-store.js';
import { DynamoDbRateLimiter } from './adapters/dynamodb/rate-limiter.js';
import { DynamoDbSubscriptionStore } from './adapters/dynamodb/subscription-store.js';
import { tableNamesFromEnvironment, type TableNames } from './adapters/dynamodb/tables.js';
import { PowertoolsDeduplicator } from './adapters/lambda/idempotency-deduplicator.js';
import { LambdaShardDispatcher } from './adapters/lambda/shard-dispatcher.js';
import { LambdaWelcomeScheduler } from './adapters/lambda/welcome-scheduler.js';
import { SqsDeadLetterSink } from './adapters/sqs/dead-letter-sink.js';
import { readLambdaEnvironment, required, type LambdaEnvironment } from './config/environment.js';
import { serviceConfigFromJson } from './config/load.js';
import type { ServiceConfig } from './config/schema.js';
import { CleanupService } from './domain/cleanup-service.js';
import { createShardWorker, FanoutService, type FanoutServiceOptions } from './domain/fanout-service.js';
import type { ShardWorker } from './domain/fanout-worker.js';
import type {
  Clock,
  ConnectionStore,
  DeadLetterSink,
  DeliveryProgressStore,
  ShardDispatcher,
  MessageSender,
  NotificationLog,
  PresenceStore,
  RateLimiter,
  SubscriptionStore,
  WelcomeScheduler,
} from './domain/ports.js';

/**
 * The composition root: SDK clients and adapters are built here, once per cold start
 * (per environment, so tests can point a process at fresh tables), and never per call.
 * Each piece is built on first use so a function pays only for what it touches.
 */
export interface Services {
  readonly env: LambdaEnvironment;
  readonly config: ServiceConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly tables: TableNames;
  readonly dynamoDb: DynamoDBDocumentClient;
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  readonly presence: PresenceStore;
  readonly notifications: NotificationLog;
  readonly rateLimiter: RateLimiter;
  readonly sender: MessageSender;
  readonly welcome: WelcomeScheduler;
  /** Powertools idempotency on the Idempotency table: the fan-out's duplicate check. */
  readonly deduplicator: PowertoolsDeduplicator;
  readonly fanout: FanoutService;
  /** Jobs and shard progress of large deliveries (Deliveries table). */
  readonly deliveryProgress: DeliveryProgressStore;
  /** The on-failure queue; undefined without DEAD_LETTER_QUEUE_URL (letters are then only logged). */
  readonly deadLetters: DeadLetterSink | undefined;
  /** Worker invocations; undefined without FANOUT_WORKER_FUNCTION_NAME (shards then run in the fan-out). */
  readonly shardDispatcher: ShardDispatcher | undefined;
  /** What a fan-out worker invocation runs. */
  readonly shardWorker: ShardWorker;
  readonly cleanup: CleanupService;
}

export const systemClock: Clock = { now: () => new Date() };

/** One logger per process; Powertools reads POWERTOOLS_SERVICE_NAME / POWERTOOLS_LOG_LEVEL. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'notifications' });

function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}

/** Builds the services for an environment. Exported for tests and the library API. */
export function createServices(source: NodeJS.ProcessEnv = process.env): Services {
  const env = readLambdaEnvironment(source);
  const config = serviceConfigFromJson(env.SERVICE_CONFIG);
  const tables = lazy(() => tableNamesFromEnvironment(source));
  const dynamoDbClientConfig = {
    ...(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {}),
    requestHandler: { requestTimeout: config.websocket.read_timeout * 1000 },
  };
  const dynamoDb = lazy(() =>
    DynamoDBDocumentClient.from(new DynamoDBClient(dynamoDbClientConfig), {
      marshallOptions: { removeUndefinedValues: true },
    }),
  );
  const connections = lazy(() => new DynamoDbConnectionStore({ client: dynamoDb(), tables: tables() }));
  const subscriptions = lazy(() => new DynamoDbSubscriptionStore({ client: dynamoDb(), tables: tables() }));
  const presence = lazy(() => new DynamoDbPresenceStore({ client: dynamoDb(), tables: tables() }));
  const notifications = lazy(() => new DynamoDbNotificationLog({ client: dynamoDb(), tables: tables() }));
  const rateLimiter = lazy(
    () =>
      new DynamoDbRateLimiter({
        client: dynamoDb(),
        tables: tables(),
        ratePerSecond: config.websocket.rate_limit_per_second,
        burst: config.websocket.rate_limit_burst,
      }),
  );
  const sender = lazy(
    () =>
      new ApiGatewayMessageSender({
        client: new ApiGatewayManagementApiClient({
          endpoint: required(env, 'MANAGEMENT_ENDPOINT'),
          requestHandler: { requestTimeout: config.websocket.write_timeout * 1000 },
        }),
      }),
  );
  const welcome = lazy(
    () =>
      new LambdaWelcomeScheduler({
        client: new LambdaClient(env.LAMBDA_ENDPOINT ? { endpoint: env.LAMBDA_ENDPOINT } : {}),
        functionName: required(env, 'WELCOME_FUNCTION_NAME'),
      }),
  );
  const deduplicator = lazy(
    () =>
      new PowertoolsDeduplicator({
        // A plain client: Powertools marshals its items itself.
        client: new DynamoDBClient(dynamoDbClientConfig),
        tableName: tables().Idempotency,
        // A redelivery later than this is outside `recover`'s reach as well.
        expiresAfterSeconds: config.websocket.history_ttl,
      }),
  );
  // The fan-out retries posts itself (backoff within the invocation's remaining time,
  // counted in its metrics), so its client makes one attempt per call.
  const fanoutSender = lazy(
    () =>
      new ApiGatewayMessageSender({
        client: new ApiGatewayManagementApiClient({
          endpoint: required(env, 'MANAGEMENT_ENDPOINT'),
          maxAttempts: 1,
          requestHandler: { requestTimeout: config.websocket.write_timeout * 1000 },
        }),
      }),
  );
  const deliveryProgress = lazy(() => new DynamoDbDeliveryProgressStore({ client: dynamoDb(), tables: tables() }));
  const deadLetters = lazy(() => {
    const queueUrl = env.DEAD_LETTER_QUEUE_URL;
    if (!queueUrl) return undefined;
    // The queue URL's origin is the SQS endpoint, in AWS and at the local runtime alike.
    return new SqsDeadLetterSink({ client: new SQSClient({ endpoint: new URL(queueUrl).origin }), queueUrl });
  });
  const shardDispatcher = lazy(() => {
    const functionName = env.FANOUT_WORKER_FUNCTION_NAME;
    if (!functionName) return undefined;
    return new LambdaShardDispatcher({
      client: new LambdaClient(env.LAMBDA_ENDPOINT ? { endpoint: env.LAMBDA_ENDPOINT } : {}),
      functionName,
    });
  });
  const fanoutParts = lazy((): FanoutServiceOptions => {
    const letters = deadLetters();
    const dispatcher = shardDispatcher();
    return {
      connections: connections(),
      subscriptions: subscriptions(),
      notifications: notifications(),
      sender: fanoutSender(),
      deduplicator: deduplicator(),
      progress: deliveryProgress(),
      ...(letters ? { deadLetters: letters } : {}),
      ...(dispatcher ? { dispatcher } : {}),
      clock: systemClock,
      log: logger,
      concurrency: config.kafka.fanout_concurrency,
      historyTtlSeconds: config.websocket.history_ttl,
      topicChannels: config.kafka.topic_channels,
      shardSize: config.delivery.shard_size,
      postsPerSecond: config.delivery.api_quota_per_second * config.delivery.quota_share,
      retry: { attempts: config.delivery.post_attempts, baseDelayMs: 50, maxDelayMs: 2000 },
    };
  });
  const fanout = lazy(() => new FanoutService(fanoutParts()));
  // A worker that runs out of time releases its shard and stops; the fan-out watching
  // the job dispatches it again (a worker cannot name itself without a template cycle).
  const shardWorker = lazy(() => createShardWorker({ ...fanoutParts(), dispatcher: undefined }).worker!);
  const cleanup = lazy(
    () =>
      new CleanupService({
        connections: connections(),
        sender: sender(),
        clock: systemClock,
        log: logger,
        idleTimeoutSeconds: config.websocket.idle_timeout,
        concurrency: config.kafka.fanout_concurrency,
      }),
  );
  return {
    env,
    config,
    logger,
    clock: systemClock,
    get tables() {
      return tables();
    },
    get dynamoDb() {
      return dynamoDb();
    },
    get connections() {
      return connections();
    },
    get subscriptions() {
      return subscriptions();
    },
    get presence() {
      return presence();
    },
    get notifications() {
      return notifications();
    },
    get rateLimiter() {
      return rateLimiter();
    },
    get sender() {
      return sender();
    },
    get welcome() {
      return welcome();
    },
    get deduplicator() {
      return deduplicator();
    },
    get fanout() {
      return fanout();
    },
    get deliveryProgress() {
      return deliveryProgress();
    },
    get deadLetters() {
      return deadLetters();
    },
    get shardDispatcher() {
      return shardDispatcher();
    },
    get shardWorker() {
      return shardWorker();
    },
    get cleanup() {
      return cleanup();
    },
  };
}

const ENV_KEYS = [
  'SERVICE_CONFIG',
  'CONNECTIONS_TABLE',
  'SUBSCRIPTIONS_TABLE',
  'USERS_TABLE',
  'NOTIFICATIONS_TABLE',
  'IDEMPOTENCY_TABLE',
  'DELIVERIES_TABLE',
  'FANOUT_WORKER_FUNCTION_NAME',
  'DEAD_LETTER_QUEUE_URL',
  'MANAGEMENT_ENDPOINT',
  'WELCOME_FUNCTION_NAME',
  'DYNAMODB_ENDPOINT',
  'LAMBDA_ENDPOINT',
  'JWT_SECRET',
  'JWT_SECRET_ARN',
] as const;

let cached: { key: string; services: Services } | undefined;

/**
 * The services of this process. In Lambda the environment never changes, so this is
 * built once per cold start; a process whose environment changes (a test that starts a
 * second local runtime) gets services for its new environment.
 */
export function getServices(): Services {
  const key = ENV_KEYS.map((name) => process.env[name] ?? '').join('\u0000');
  if (cached?.key !== key) cached = { key, services: createServices(process.env) };
  return cached.services;
}
