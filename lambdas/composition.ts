import { ApiGatewayManagementApiClient } from '@aws-sdk/client-apigatewaymanagementapi';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import { ApiGatewayMessageSender } from './adapters/apigateway/message-sender.js';
import { DynamoDbConnectionStore } from './adapters/dynamodb/connection-store.js';
import { DynamoDbNotificationLog } from './adapters/dynamodb/notification-log.js';
import { DynamoDbPresenceStore } from './adapters/dynamodb/presence-store.js';
import { DynamoDbRateLimiter } from './adapters/dynamodb/rate-limiter.js';
import { DynamoDbSubscriptionStore } from './adapters/dynamodb/subscription-store.js';
import { tableNamesFromEnvironment, type TableNames } from './adapters/dynamodb/tables.js';
import { PowertoolsDeduplicator } from './adapters/lambda/idempotency-deduplicator.js';
import { LambdaWelcomeScheduler } from './adapters/lambda/welcome-scheduler.js';
import { readLambdaEnvironment, required, type LambdaEnvironment } from './config/environment.js';
import { serviceConfigFromJson } from './config/load.js';
import type { ServiceConfig } from './config/schema.js';
import { CleanupService } from './domain/cleanup-service.js';
import { FanoutService } from './domain/fanout-service.js';
import type {
  Clock,
  ConnectionStore,
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
  const fanout = lazy(
    () =>
      new FanoutService({
        connections: connections(),
        subscriptions: subscriptions(),
        notifications: notifications(),
        sender: sender(),
        deduplicator: deduplicator(),
        clock: systemClock,
        log: logger,
        concurrency: config.kafka.fanout_concurrency,
        historyTtlSeconds: config.websocket.history_ttl,
        topicChannels: config.kafka.topic_channels,
      }),
  );
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
