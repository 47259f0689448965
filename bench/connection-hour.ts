import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbConnectionStore } from '../lambdas/adapters/dynamodb/connection-store.js';
import { DynamoDbInboxStore } from '../lambdas/adapters/dynamodb/inbox-store.js';
import { DynamoDbNotificationLog } from '../lambdas/adapters/dynamodb/notification-log.js';
import { DynamoDbPresenceStore } from '../lambdas/adapters/dynamodb/presence-store.js';
import { DynamoDbRateLimiter } from '../lambdas/adapters/dynamodb/rate-limiter.js';
import { DynamoDbSubscriptionStore } from '../lambdas/adapters/dynamodb/subscription-store.js';
import type { TableNames } from '../protocol/tables.js';
import { loadConfigFile } from '../lambdas/config/load.js';
import type { ServiceConfig } from '../lambdas/config/schema.js';
import { AccessPolicy } from '../lambdas/domain/access-policy.js';
import { ClientRequests } from '../lambdas/domain/client-requests.js';
import { ConnectionService } from '../lambdas/domain/connection-service.js';
import { InboxService } from '../lambdas/domain/inbox-service.js';
import type { Log, MessageSender } from '../lambdas/domain/ports.js';
import { DynamoDbPresenceChannelStore } from '../lambdas/adapters/dynamodb/presence-channel-store.js';
import { PresenceChannelService } from '../lambdas/domain/presence-channel-service.js';
import { PresenceService } from '../lambdas/domain/presence-service.js';
import { StreamHeads } from '../lambdas/domain/stream-heads.js';
import { RecoveryService } from '../lambdas/domain/recovery-service.js';
import { StatsService } from '../lambdas/domain/stats-service.js';
import { SubscriptionService } from '../lambdas/domain/subscription-service.js';
import { TokenRefreshService } from '../lambdas/domain/token-refresh.js';
import { createTables, startDynamoDbLocal } from '../local/dynamodb-local.js';

/**
 * Write units per connection-hour (issue 10, part 6): one connection, opened, then one
 * simulated hour of heartbeats through the real request pipeline (ClientRequests over
 * the DynamoDB adapters) with an injected clock, against DynamoDB (Local). Every
 * DynamoDB request of the hour is counted with the capacity DynamoDB reports for it
 * (ReturnConsumedCapacity=INDEXES, so index writes are in), and a request that fails its
 * condition counts 1 write unit: AWS bills it (at least 1, more for items over 1 KB),
 * while DynamoDB Local reports nothing for it. Opening the connection is not counted:
 * it is paid once per connection, not per hour.
 */

export interface ConnectionHourOptions {
  /** The DynamoDB to measure against (DynamoDB Local); it must hold `tables`. */
  readonly endpoint: string;
  readonly tables: TableNames;
  /** @default - the `[notification_service]` section of the shipped Config.toml */
  readonly config?: ServiceConfig;
  /** Heartbeats in the hour. @default - 3600 / heartbeat_interval (12 at 300 s) */
  readonly heartbeats?: number;
  /**
   * How much later than heartbeat_interval each beat arrives: a client's timer fires at
   * the interval or later, and the network adds to it, so gaps are a little over the
   * interval, never exactly it. @default 250
   */
  readonly lateByMs?: number;
  /**
   * `fresh`: every heartbeat meets a container that never saw this connection (what
   * Lambda mostly does with frames minutes apart); `one`: all meet the same container.
   * @default 'fresh'
   */
  readonly containers?: 'one' | 'fresh';
}

export interface ConnectionHourCost {
  readonly heartbeats: number;
  /** DynamoDB requests, those that failed their condition included. */
  readonly requests: number;
  readonly readUnits: number;
  /** Table and index writes; 1 for each request that failed its condition. */
  readonly writeUnits: number;
  /** Requests that failed their condition (already in `requests` and `writeUnits`). */
  readonly failedConditions: number;
  /** Requests per operation, e.g. `{ UpdateItemCommand: 12 }`. */
  readonly byOperation: Readonly<Record<string, number>>;
}

const DEFAULT_CONFIG_PATH = fileURLToPath(new URL('../Config.toml', import.meta.url));
const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
/** Heartbeats post nothing; nothing else is sent in the measured hour. */
const noSender: MessageSender = {
  post: async () => {},
  close: async () => {},
};

/** Runs one connection through an hour of heartbeats and sums what DynamoDB charged. */
export async function measureConnectionHour(options: ConnectionHourOptions): Promise<ConnectionHourCost> {
  const config = options.config ?? loadConfigFile(DEFAULT_CONFIG_PATH).notification_service;
  const { websocket } = config;
  const heartbeats = options.heartbeats ?? Math.floor(3600 / websocket.heartbeat_interval);
  const lateByMs = options.lateByMs ?? 250;
  const meter = new CapacityMeter();
  // A client of its own, so that the meter sees this measurement and nothing else.
  const raw = new DynamoDBClient({ endpoint: options.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  meter.attach(raw);
  const client = DynamoDBDocumentClient.from(raw, { marshallOptions: { removeUndefinedValues: true } });
  try {
    let now = new Date('2030-01-01T00:00:00.000Z');
    const clock = { now: () => now };
    const props = { client, tables: options.tables };
    const connections = new DynamoDbConnectionStore(props);
    const access = new AccessPolicy(config.channels);
    const connectionService = new ConnectionService({
      connections,
      sender: noSender,
      welcome: { schedule: async () => {} },
      clock,
      log: silent,
      config: websocket,
    });
    const container = () =>
      new ClientRequests({
        clock,
        log: silent,
        rateLimiter: new DynamoDbRateLimiter({ ...props, ratePerSecond: websocket.rate_limit_per_second, burst: websocket.rate_limit_burst }),
        maxFrameSize: websocket.max_frame_size,
        websocket,
        connections: connectionService,
        subscriptions: new SubscriptionService({ connections, subscriptions: new DynamoDbSubscriptionStore(props), access, config: config.channels }),
        presence: new PresenceService({ presence: new DynamoDbPresenceStore(props), connections, access }),
        // Not measured here: an idle connection holds no presence channel.
        presenceChannels: new PresenceChannelService({
          store: new DynamoDbPresenceChannelStore(props),
          connections,
          subscriptions: new DynamoDbSubscriptionStore(props),
          sender: noSender,
          access,
          clock,
          log: silent,
          maxMembers: config.channels.presence_max_members,
        }),
        stats: new StatsService(connections, clock),
        recovery: new RecoveryService({
          connections,
          notifications: new DynamoDbNotificationLog(props),
          sender: noSender,
          clock,
          log: silent,
          historyTtlSeconds: websocket.history_ttl,
        }),
        // Not measured here: an idle connection sends no refresh in this bench.
        refresh: new TokenRefreshService({ connections, tokens: { check: async () => ({ valid: false, reason: 'not measured' }) } }),
        // Not measured here either: an idle connection reads no inbox.
        inbox: new InboxService({ inbox: new DynamoDbInboxStore(props), connections, sender: noSender, clock, log: silent }),
        // Measured: every heartbeat answer carries the heads of the connection's streams (reads only).
        streamHeads: new StreamHeads({ notifications: new DynamoDbNotificationLog(props), clock, log: silent }),
      });

    const connectionId = `hour-${randomBytes(6).toString('hex')}`;
    const identity = { userId: `idle-${randomBytes(4).toString('hex')}`, roles: [] };
    const opened = await connectionService.connect(connectionId, identity);
    if (opened.status !== 'accepted') throw new Error(`the measured connection was refused: ${opened.reason}`);

    meter.reset();
    let shared = container();
    for (let beat = 1; beat <= heartbeats; beat++) {
      now = new Date(now.getTime() + websocket.heartbeat_interval * 1000 + lateByMs);
      if ((options.containers ?? 'fresh') === 'fresh') shared = container();
      const reply = await shared.handle({ connectionId, identity }, JSON.stringify({ type: 'heartbeat', payload: {} }));
      if (reply.type !== 'heartbeat') throw new Error(`heartbeat ${beat} was answered ${JSON.stringify(reply)}`);
    }
    return { heartbeats, ...meter.reading() };
  } finally {
    raw.destroy();
  }
}

/** Sums ConsumedCapacity per request; a failed condition counts 1 write unit. */
class CapacityMeter {
  private requests = 0;
  private readUnits = 0;
  private writeUnits = 0;
  private failedConditions = 0;
  private byOperation: Record<string, number> = {};

  attach(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const name = context.commandName ?? 'unknown';
        (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'INDEXES';
        this.requests += 1;
        this.byOperation[name] = (this.byOperation[name] ?? 0) + 1;
        try {
          const result = await next(args);
          const consumed = (result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity;
          const units = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []).reduce(
            (sum: number, entry: { CapacityUnits?: number }) => sum + (entry.CapacityUnits ?? 0),
            0,
          );
          if (/^(Get|BatchGet|Query|Scan|TransactGet)/.test(name)) this.readUnits += units;
          else this.writeUnits += units;
          return result;
        } catch (error) {
          const errorName = (error as { name?: string }).name;
          if (errorName === 'ConditionalCheckFailedException' || errorName === 'TransactionCanceledException') {
            this.failedConditions += 1;
            this.writeUnits += 1;
          }
          throw error;
        }
      },
      { step: 'initialize', name: 'connectionHourMeter' },
    );
  }

  reset(): void {
    this.requests = 0;
    this.readUnits = 0;
    this.writeUnits = 0;
    this.failedConditions = 0;
    this.byOperation = {};
  }

  reading(): Omit<ConnectionHourCost, 'heartbeats'> {
    return {
      requests: this.requests,
      readUnits: this.readUnits,
      writeUnits: this.writeUnits,
      failedConditions: this.failedConditions,
      byOperation: { ...this.byOperation },
    };
  }
}

async function main(): Promise<void> {
  const dynamoDb = await startDynamoDbLocal();
  const client = new DynamoDBClient({ endpoint: dynamoDb.endpoint, region: 'us-east-1', credentials: LOCAL_CREDENTIALS });
  try {
    const tables = await createTables(client, `hour${randomBytes(3).toString('hex')}-`);
    for (const containers of ['fresh', 'one'] as const) {
      const cost = await measureConnectionHour({ endpoint: dynamoDb.endpoint, tables, containers });
      process.stdout.write(`${JSON.stringify({ measurement: 'connection-hour', containers, ...cost })}\n`);
    }
  } finally {
    client.destroy();
    await dynamoDb.stop();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  await main();
}
