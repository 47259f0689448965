import { DynamoDBClient, type DynamoDBClientConfig } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { Logger } from '@aws-lambda-powertools/logger';
import { ApiGatewayMessageSender } from './adapters/apigateway/message-sender.js';
import { DynamoDbConnectionStore } from './adapters/dynamodb/connection-store.js';
import { DynamoDbDeliveryLedger } from './adapters/dynamodb/delivery-ledger.js';
import { DynamoDbDeliveryProgressStore } from './adapters/dynamodb/delivery-progress-store.js';
import { DynamoDbInboxStore } from './adapters/dynamodb/inbox-store.js';
import { DynamoDbNotificationLog } from './adapters/dynamodb/notification-log.js';
import { DynamoDbPresenceChannelStore } from './adapters/dynamodb/presence-channel-store.js';
import { DynamoDbPresenceStore } from './adapters/dynamodb/presence-store.js';
import { DynamoDbRateLimiter } from './adapters/dynamodb/rate-limiter.js';
import { DynamoDbSubscriptionStore } from './adapters/dynamodb/subscription-store.js';
import { tableNamesFromEnvironment, type TableNames } from './adapters/dynamodb/tables.js';
import { environmentKey, lazy, logger, readSettings, systemClock } from './composition-base.js';
import { required, type LambdaEnvironment } from './config/environment.js';
import type { ServiceConfig } from './config/schema.js';
import { AccessPolicy } from './domain/access-policy.js';
import type { Connection } from './domain/model.js';
import { CleanupService } from './domain/cleanup-service.js';
import { PresenceChannelService } from './domain/presence-channel-service.js';
import type { FanoutService } from './domain/fanout/fanout-service.js';
import type { ShardWorker } from './domain/fanout/shard-worker.js';
import type {
  Clock,
  ConnectionStore,
  DeadLetterSink,
  DeliveryLedger,
  DeliveryProgressStore,
  ShardDispatcher,
  MessageSender,
  InboxStore,
  NotificationLog,
  PresenceChannelStore,
  PresenceStore,
  RateLimiter,
  SubscriptionStore,
  WelcomeScheduler,
} from './domain/ports.js';

export { logger, systemClock } from './composition-base.js';

/**
 * The composition root: SDK clients and adapters are built here, once per cold start
 * (per environment, so tests can point a process at fresh tables), and never per call.
 * Each piece is built on first use so a function pays only for what it touches.
 *
 * This module builds what nearly every function uses (the DynamoDB stores, the
 * Management API senders, cleanup). The pieces only some functions use come from
 * their own modules, which the functions that use them import: `composition-welcome.ts`
 * (Lambda client) and `composition-fanout.ts` (SQS, Lambda).
 * A function's bundle holds only the clients its modules import (the AWS SDK is bundled,
 * see lib/service-function.ts), so the Authorizer, say, carries no DynamoDB client.
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
  /** Members of presence channels (Subscriptions table, `presence#{channel}` partitions). */
  readonly presenceChannels: PresenceChannelStore;
  /**
   * To call with each connection removed outside `$disconnect` (cleanup, a 410 during a
   * fan-out): sends presence channels' `leave` (protocol section 9).
   */
  readonly onConnectionRemoved: (connection: Connection) => Promise<void>;
  readonly notifications: NotificationLog;
  /** Users' inbox read state (Notifications table). */
  readonly inbox: InboxStore;
  readonly rateLimiter: RateLimiter;
  readonly sender: MessageSender;
  readonly welcome: WelcomeScheduler;
  /** The fan-out's duplicate check and in-progress marker per messageId (Notifications table). */
  readonly deliveryLedger: DeliveryLedger;
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

/** The pieces built by the modules only some functions import. */
export interface OptionalParts {
  readonly welcome: WelcomeScheduler;
  readonly fanout: FanoutService;
  readonly deadLetters: DeadLetterSink | undefined;
  readonly shardDispatcher: ShardDispatcher | undefined;
  readonly shardWorker: ShardWorker;
}

/** What an optional part is built from: the services, and the fan-out's own sender. */
export interface PartContext {
  readonly services: Services;
  /** The fan-out retries posts itself, so its sender makes one attempt per call. */
  readonly fanoutSender: () => MessageSender;
  /** What every DynamoDB client of the process is built with (endpoint, timeout). */
  readonly dynamoDbClientConfig: DynamoDBClientConfig;
}

export type PartBuilders = { readonly [K in keyof OptionalParts]?: (context: PartContext) => OptionalParts[K] };

const MODULE_OF_PART: Readonly<Record<keyof OptionalParts, string>> = {
  welcome: 'lambdas/composition-welcome.ts',
  fanout: 'lambdas/composition-fanout.ts',
  deadLetters: 'lambdas/composition-fanout.ts',
  shardDispatcher: 'lambdas/composition-fanout.ts',
  shardWorker: 'lambdas/composition-fanout.ts',
};

const partBuilders: { -readonly [K in keyof OptionalParts]?: PartBuilders[K] } = {};

/** Called by the modules of the optional parts when they are imported. */
export function provideParts(builders: PartBuilders): void {
  Object.assign(partBuilders, builders);
}

/** Builds the services for an environment. Exported for tests and the library API. */
export function createServices(source: NodeJS.ProcessEnv = process.env): Services {
  const { env, config } = readSettings(source);
  const tables = lazy(() => tableNamesFromEnvironment(source));
  const dynamoDbClientConfig: DynamoDBClientConfig = {
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
  const presenceChannels = lazy(() => new DynamoDbPresenceChannelStore({ client: dynamoDb(), tables: tables() }));
  const notifications = lazy(() => new DynamoDbNotificationLog({ client: dynamoDb(), tables: tables() }));
  const inbox = lazy(() => new DynamoDbInboxStore({ client: dynamoDb(), tables: tables() }));
  const rateLimiter = lazy(
    () =>
      new DynamoDbRateLimiter({
        client: dynamoDb(),
        tables: tables(),
        ratePerSecond: config.websocket.rate_limit_per_second,
        burst: config.websocket.rate_limit_burst,
      }),
  );
  // Every Management API sender keeps one keep-alive socket per post it may have in
  // flight (kafka.fanout_concurrency), so no post waits in the agent's queue.
  // Read on first use: functions that never post have no MANAGEMENT_ENDPOINT.
  const managementApi = () => ({
    endpoint: required(env, 'MANAGEMENT_ENDPOINT'),
    maxSockets: config.kafka.fanout_concurrency,
    requestTimeoutMs: config.websocket.write_timeout * 1000,
  });
  // Three attempts, as the SDK's standard retry mode made for the routes and cleanup.
  const sender = lazy(() => new ApiGatewayMessageSender({ ...managementApi(), attempts: 3 }));
  // The fan-out retries posts itself (backoff within the invocation's remaining time,
  // counted in its metrics), so its sender makes one attempt per call.
  const fanoutSender = lazy(() => new ApiGatewayMessageSender({ ...managementApi(), attempts: 1 }));
  const deliveryLedger = lazy(() => new DynamoDbDeliveryLedger({ client: dynamoDb(), tables: tables() }));
  const deliveryProgress = lazy(() => new DynamoDbDeliveryProgressStore({ client: dynamoDb(), tables: tables() }));
  const removalPresence = lazy(
    () =>
      new PresenceChannelService({
        store: presenceChannels(),
        connections: connections(),
        subscriptions: subscriptions(),
        sender: sender(),
        access: new AccessPolicy(config.channels),
        clock: systemClock,
        log: logger,
        maxMembers: config.channels.presence_max_members,
      }),
  );
  const onConnectionRemoved = (connection: Connection) => removalPresence().left(connection, connection.channels);
  const cleanup = lazy(
    () =>
      new CleanupService({
        connections: connections(),
        sender: sender(),
        clock: systemClock,
        log: logger,
        idleTimeoutSeconds: config.websocket.idle_timeout,
        concurrency: config.kafka.fanout_concurrency,
        // The `leave` a missed `$disconnect` did not send (protocol section 9).
        onRemoved: (connection) => onConnectionRemoved(connection),
      }),
  );
  const built = new Map<keyof OptionalParts, unknown>();
  const part = <K extends keyof OptionalParts>(name: K): OptionalParts[K] => {
    if (!built.has(name)) {
      const build = partBuilders[name] as PartBuilders[K];
      if (!build) throw new Error(`${name} is not composed into this function: its entry module must import ${MODULE_OF_PART[name]}`);
      built.set(name, build({ services, fanoutSender, dynamoDbClientConfig }));
    }
    return built.get(name) as OptionalParts[K];
  };
  const services: Services = {
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
    get presenceChannels() {
      return presenceChannels();
    },
    onConnectionRemoved,
    get inbox() {
      return inbox();
    },
    get rateLimiter() {
      return rateLimiter();
    },
    get sender() {
      return sender();
    },
    get welcome() {
      return part('welcome');
    },
    get deliveryLedger() {
      return deliveryLedger();
    },
    get fanout() {
      return part('fanout');
    },
    get deliveryProgress() {
      return deliveryProgress();
    },
    get deadLetters() {
      return part('deadLetters');
    },
    get shardDispatcher() {
      return part('shardDispatcher');
    },
    get shardWorker() {
      return part('shardWorker');
    },
    get cleanup() {
      return cleanup();
    },
  };
  return services;
}

let cached: { key: string; services: Services } | undefined;

/**
 * The services of this process. In Lambda the environment never changes, so this is
 * built once per cold start; a process whose environment changes (a test that starts a
 * second local runtime) gets services for its new environment.
 */
export function getServices(): Services {
  const key = environmentKey(process.env);
  if (cached?.key !== key) cached = { key, services: createServices(process.env) };
  return cached.services;
}
