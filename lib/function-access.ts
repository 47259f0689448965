import { Duration } from 'aws-cdk-lib';
import type { TableId } from '../protocol/tables.js';
import type { TableAccess } from './notification-tables.js';

/** Functions that others invoke asynchronously, with the variable that carries their name. */
export const INVOKED_FUNCTIONS = {
  Welcome: 'WELCOME_FUNCTION_NAME',
  FanoutWorker: 'FANOUT_WORKER_FUNCTION_NAME',
} as const;

export type InvokedFunction = keyof typeof INVOKED_FUNCTIONS;

/**
 * What the construct gives one function of the route table (whose entry and description
 * live in the route table, `protocol/routes.ts`), besides its own log group and
 * `SERVICE_CONFIG` plus the table names, which every function gets. Each grant comes with
 * the environment variable that tells the handler where the resource is.
 */
export interface FunctionAccess {
  /** Tables it reads or writes; absent tables are out of reach. */
  readonly tables: Readonly<Partial<Record<TableId, TableAccess>>>;
  /** Posts to or closes connections: `execute-api:ManageConnections` and `MANAGEMENT_ENDPOINT`. */
  readonly managesConnections: boolean;
  /** Invokes these functions: `lambda:InvokeFunction` on each and its name in `INVOKED_FUNCTIONS[id]`. */
  readonly invokes?: readonly InvokedFunction[];
  /** Sets aside what it cannot deliver: `sqs:SendMessage` on the dead-letter queue and `DEAD_LETTER_QUEUE_URL`. */
  readonly sendsDeadLetters?: boolean;
  /** Verifies client tokens (auth.mode = "hs256"): reads the JWT secret, `JWT_SECRET_ARN`. */
  readonly verifiesTokens?: boolean;
  /** @default Duration.seconds(10) - a WebSocket route answers within API Gateway's 29 s */
  readonly timeout?: Duration;
}

// Every client route takes a token from the connection's rate-limit bucket (kept on the
// Connections item) and records activity there, so each writes Connections.
const CLIENT_ROUTE = { Connections: 'readWrite' } as const;

// Opening, closing and cleaning up touch the connection, its subscriptions and the
// user's presence entry in one transaction.
const CONNECTION_LIFECYCLE = { Connections: 'readWrite', Subscriptions: 'readWrite', Users: 'readWrite' } as const;

/**
 * Least privilege per function, keyed by the route table's function id. The construct
 * refuses a function of the route table that has no entry here, so a new route cannot
 * ship without someone deciding what it may do.
 */
export const FUNCTION_ACCESS: Readonly<Record<string, FunctionAccess>> = {
  // $connect hands the welcome to its own function: API Gateway cannot post to a
  // connection before $connect has returned.
  Connect: { tables: CONNECTION_LIFECYCLE, managesConnections: false, invokes: ['Welcome'] },
  // Posts `leave` to a presence channel's other subscribers when the user's last connection goes.
  Disconnect: { tables: CONNECTION_LIFECYCLE, managesConnections: true },
  Default: { tables: CLIENT_ROUTE, managesConnections: false },
  // Keep presence channel members (Subscriptions, `presence#` partitions) and post `join` / `leave`.
  // Reads the heads of the accepted channels' streams for its answer (docs/protocol.md section 11).
  Subscribe: { tables: { ...CLIENT_ROUTE, Subscriptions: 'readWrite', Notifications: 'read' }, managesConnections: true },
  Unsubscribe: { tables: { ...CLIENT_ROUTE, Subscriptions: 'readWrite' }, managesConnections: true },
  // Reads a presence channel's members (Subscriptions, `presence#` partition).
  Members: { tables: { ...CLIENT_ROUTE, Subscriptions: 'read' }, managesConnections: false },
  // Reads the heads of the connection's streams for its answer (docs/protocol.md section 11).
  Heartbeat: { tables: { ...CLIENT_ROUTE, Users: 'readWrite', Notifications: 'read' }, managesConnections: false },
  Presence: { tables: { ...CLIENT_ROUTE, Users: 'read' }, managesConnections: false },
  // Replays notifications through the Management API before it returns `recovered`.
  Recover: { tables: { ...CLIENT_ROUTE, Notifications: 'read' }, managesConnections: true },
  Stats: { tables: CLIENT_ROUTE, managesConnections: false },
  // Reads the user# stream and the inbox# read state.
  Inbox: { tables: { ...CLIENT_ROUTE, Notifications: 'read' }, managesConnections: false },
  // Writes the inbox# read state and posts inboxState to the user's other connections.
  MarkRead: { tables: { ...CLIENT_ROUTE, Notifications: 'readWrite' }, managesConnections: true },
  // Verifies the new token (the construct gives it the authorizer's secret) and moves
  // the connection's tokenExpiresAt.
  Refresh: { tables: CLIENT_ROUTE, managesConnections: false, verifiesTokens: true },
  // Verifies the token only; the per-user limit is enforced by Connect.
  Authorizer: { tables: {}, managesConnections: false, verifiesTokens: true },
  // Reads the inbox for welcome's unreadCount and the heads of the connection's streams;
  // posts `disconnect` to a connection removed before its welcome, and closes it.
  Welcome: { tables: { Connections: 'read', Notifications: 'read' }, managesConnections: true, timeout: Duration.seconds(30) },
  // Reads subscribers, appends to the history, deduplicates records, and removes
  // connections that answer 410 Gone.
  // Hands the shards of large audiences to worker invocations (docs/delivery.md).
  Fanout: {
    tables: { ...CONNECTION_LIFECYCLE, Notifications: 'readWrite', Deliveries: 'readWrite' },
    managesConnections: true,
    invokes: ['FanoutWorker'],
    sendsDeadLetters: true,
    timeout: Duration.minutes(2),
  },
  // Posts one shard of a planned delivery, records its progress, and removes
  // connections that answer 410 Gone.
  FanoutWorker: {
    tables: { ...CONNECTION_LIFECYCLE, Deliveries: 'readWrite' },
    managesConnections: true,
    sendsDeadLetters: true,
    timeout: Duration.minutes(5),
  },
  Cleanup: { tables: CONNECTION_LIFECYCLE, managesConnections: true, timeout: Duration.minutes(5) },
  // Publishes as the fan-out does (same tables, workers and dead letters), closes and
  // removes a user's connections, and reads presence and stats.
  ServerApi: {
    tables: { ...CONNECTION_LIFECYCLE, Notifications: 'readWrite', Deliveries: 'readWrite' },
    managesConnections: true,
    invokes: ['FanoutWorker'],
    sendsDeadLetters: true,
    // Just under the HTTP API's 30-second integration limit: a publish that runs out of
    // time answers its late records `failed` (retry them) rather than a 503 from API Gateway.
    timeout: Duration.seconds(29),
  },
};
