import type { TableId } from '../lambdas/adapters/dynamodb/tables.js';
import type { TableAccess } from './notification-tables.js';

/** What one function of the route table may touch, besides its own log group. */
export interface FunctionAccess {
  /** Tables it reads or writes; absent tables are out of reach. */
  readonly tables: Readonly<Partial<Record<TableId, TableAccess>>>;
  /** True when it posts to or closes connections (`execute-api:ManageConnections`). */
  readonly managesConnections: boolean;
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
  Connect: { tables: CONNECTION_LIFECYCLE, managesConnections: false },
  // Posts `leave` to a presence channel's other subscribers when the user's last connection goes.
  Disconnect: { tables: CONNECTION_LIFECYCLE, managesConnections: true },
  Default: { tables: CLIENT_ROUTE, managesConnections: false },
  // Keep presence channel members (Subscriptions, `presence#` partitions) and post `join` / `leave`.
  Subscribe: { tables: { ...CLIENT_ROUTE, Subscriptions: 'readWrite' }, managesConnections: true },
  Unsubscribe: { tables: { ...CLIENT_ROUTE, Subscriptions: 'readWrite' }, managesConnections: true },
  // Reads a presence channel's members (Subscriptions, `presence#` partition).
  Members: { tables: { ...CLIENT_ROUTE, Subscriptions: 'read' }, managesConnections: false },
  Heartbeat: { tables: { ...CLIENT_ROUTE, Users: 'readWrite' }, managesConnections: false },
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
  Refresh: { tables: CLIENT_ROUTE, managesConnections: false },
  // Verifies the token only; the per-user limit is enforced by Connect.
  Authorizer: { tables: {}, managesConnections: false },
  // Reads the inbox for welcome's unreadCount.
  Welcome: { tables: { Connections: 'read', Notifications: 'read' }, managesConnections: true },
  // Reads subscribers, appends to the history, deduplicates records, and removes
  // connections that answer 410 Gone.
  Fanout: {
    tables: { ...CONNECTION_LIFECYCLE, Notifications: 'readWrite', Deliveries: 'readWrite' },
    managesConnections: true,
  },
  // Posts one shard of a planned delivery, records its progress, and removes
  // connections that answer 410 Gone.
  FanoutWorker: { tables: { ...CONNECTION_LIFECYCLE, Deliveries: 'readWrite' }, managesConnections: true },
  Cleanup: { tables: CONNECTION_LIFECYCLE, managesConnections: true },
  // Publishes as the fan-out does (same tables), closes and removes a user's
  // connections, and reads presence and stats.
  ServerApi: {
    tables: { ...CONNECTION_LIFECYCLE, Notifications: 'readWrite', Deliveries: 'readWrite' },
    managesConnections: true,
  },
};
