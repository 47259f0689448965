import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
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
import { tableNamesFromEnvironment, type TableNames } from '../protocol/tables.js';
import { lazy, logger, perEnvironment, readSettings, systemClock, type Settings } from './composition-base.js';
import { required } from './config/environment.js';
import { AccessPolicy } from './domain/access-policy.js';
import type { Connection } from './domain/model.js';
import { CleanupService } from './domain/cleanup-service.js';
import { PresenceChannelService } from './domain/presence-channel-service.js';
import type {
  Clock,
  ConnectionStore,
  DeliveryLedger,
  DeliveryProgressStore,
  MessageSender,
  InboxStore,
  NotificationLog,
  PresenceChannelStore,
  PresenceStore,
  RateLimiter,
  SubscriptionStore,
} from './domain/ports.js';

export { logger, systemClock } from './composition-base.js';

/**
 * The composition root of what nearly every function uses: the DynamoDB stores, the
 * Management API sender and cleanup. SDK clients and adapters are built here, once per
 * cold start, each on first use so a function pays only for what it touches, and never
 * per call.
 *
 * Composition is explicit: each function's handler imports the typed parts it needs
 * from its composition module, and a part that is not composed is not in the type:
 * - `composition.ts` (this module): {@link Services}, for Cleanup and every module below;
 * - `application.ts`: the WebSocket routes' domain services, except registering a connection;
 * - `composition-welcome.ts`: `$connect`'s parts (the welcome scheduler, Lambda client);
 * - `composition-fanout.ts`: the fan-out's parts (SQS and Lambda clients), for
 *   Fanout, FanoutWorker and ServerApi;
 * - `composition-authorizer.ts`: the Authorizer's token verifier (no store at all).
 * A function's bundle holds only the clients its modules import (the AWS SDK is bundled,
 * see lib/service-function.ts), so the Authorizer, say, carries no DynamoDB client.
 */
export interface Services extends Settings {
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
  /** The Management API, three attempts per post. */
  readonly sender: MessageSender;
  /** The fan-out's duplicate check and in-progress marker per messageId (Notifications table). */
  readonly deliveryLedger: DeliveryLedger;
  /** Jobs and shard progress of large deliveries (Deliveries table). */
  readonly deliveryProgress: DeliveryProgressStore;
  readonly cleanup: CleanupService;
}

/**
 * A Management API sender for these settings. Each keeps one keep-alive socket per post
 * it may have in flight (kafka.fanout_concurrency), so no post waits in the agent's
 * queue. MANAGEMENT_ENDPOINT is read here, on first use: functions that never post have none.
 */
export function createManagementApiSender({ env, config }: Settings, attempts: number): MessageSender {
  return new ApiGatewayMessageSender({
    endpoint: required(env, 'MANAGEMENT_ENDPOINT'),
    maxSockets: config.kafka.fanout_concurrency,
    requestTimeoutMs: config.websocket.write_timeout * 1000,
    attempts,
  });
}

/**
 * Builds the services for an environment. Exported for the composition modules, tests
 * and the library API; a function's handler takes them from {@link getServices}.
 */
export function createServices(source: NodeJS.ProcessEnv = process.env): Services {
  const settings = readSettings(source);
  const { env, config } = settings;
  const tables = lazy(() => tableNamesFromEnvironment(source));
  const dynamoDb = lazy(() =>
    DynamoDBDocumentClient.from(
      new DynamoDBClient({
        ...(env.DYNAMODB_ENDPOINT ? { endpoint: env.DYNAMODB_ENDPOINT } : {}),
        requestHandler: { requestTimeout: config.websocket.read_timeout * 1000 },
      }),
      { marshallOptions: { removeUndefinedValues: true } },
    ),
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
  // Three attempts, as the SDK's standard retry mode made for the routes and cleanup.
  const sender = lazy(() => createManagementApiSender(settings, 3));
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
    get deliveryLedger() {
      return deliveryLedger();
    },
    get deliveryProgress() {
      return deliveryProgress();
    },
    get cleanup() {
      return cleanup();
    },
  };
}

/**
 * The services of this container (the Cleanup function's parts, and the base of every
 * other composition module's): built once per cold start, see {@link perEnvironment}.
 */
export const getServices: () => Services = perEnvironment(createServices);
