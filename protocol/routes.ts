/**
 * The one route table: every WebSocket route and every other function of the service.
 * The local runtime reads it to dispatch frames; the CDK construct reads it to create
 * routes, integrations and functions. Paths are relative to the project root.
 */

export interface FunctionDefinition {
  /** Logical id; also the function name the local Lambda emulation answers to. */
  readonly id: string;
  /** Module, relative to the project root, exporting `handler`. */
  readonly entry: string;
  readonly description: string;
}

export interface RouteDefinition extends FunctionDefinition {
  /** API Gateway route key; custom keys match the frame's `type` ($request.body.type). */
  readonly routeKey: string;
  /**
   * True when the handler's return value `body` is the reply frame (a route response
   * in API Gateway); false when the handler answers, if at all, through the
   * Management API.
   */
  readonly returnsReply: boolean;
}

/** Route selection expression: the frame's `type`. */
export const ROUTE_SELECTION_EXPRESSION = '$request.body.type';

export const ROUTES: readonly RouteDefinition[] = [
  {
    routeKey: '$connect',
    id: 'Connect',
    entry: 'lambdas/handlers/connect.ts',
    returnsReply: false,
    description: 'Stores a new connection, its automatic subscriptions and presence',
  },
  {
    routeKey: '$disconnect',
    id: 'Disconnect',
    entry: 'lambdas/handlers/disconnect.ts',
    returnsReply: false,
    description: 'Removes a closed connection and its subscriptions',
  },
  {
    routeKey: '$default',
    id: 'Default',
    entry: 'lambdas/handlers/default.ts',
    returnsReply: true,
    description: 'Answers frames no route matched with a coded error',
  },
  { routeKey: 'subscribe', id: 'Subscribe', entry: 'lambdas/handlers/subscribe.ts', returnsReply: true, description: 'Subscribes the connection to channels' },
  {
    routeKey: 'unsubscribe',
    id: 'Unsubscribe',
    entry: 'lambdas/handlers/unsubscribe.ts',
    returnsReply: true,
    description: 'Unsubscribes the connection from channels',
  },
  { routeKey: 'heartbeat', id: 'Heartbeat', entry: 'lambdas/handlers/heartbeat.ts', returnsReply: true, description: 'Keeps the connection fresh' },
  { routeKey: 'presence', id: 'Presence', entry: 'lambdas/handlers/presence.ts', returnsReply: true, description: 'Tells which users are online' },
  { routeKey: 'recover', id: 'Recover', entry: 'lambdas/handlers/recover.ts', returnsReply: true, description: 'Replays notifications missed since a point' },
  {
    routeKey: 'members',
    id: 'Members',
    entry: 'lambdas/handlers/members.ts',
    returnsReply: true,
    description: 'Lists who is in a presence channel the connection holds',
  },
  { routeKey: 'stats', id: 'Stats', entry: 'lambdas/handlers/stats.ts', returnsReply: true, description: 'Connection statistics (admin)' },
  {
    routeKey: 'inbox',
    id: 'Inbox',
    entry: 'lambdas/handlers/inbox.ts',
    returnsReply: true,
    description: "Lists the user's inbox, newest first, with read state and the unread count",
  },
  {
    routeKey: 'markRead',
    id: 'MarkRead',
    entry: 'lambdas/handlers/mark-read.ts',
    returnsReply: true,
    description: "Marks inbox items (or all) read and tells the user's other connections",
  },
  {
    routeKey: 'refresh',
    id: 'Refresh',
    entry: 'lambdas/handlers/refresh.ts',
    returnsReply: true,
    description: "Moves the connection's token expiry later with a newer token",
  },
];

/** The `$connect` REQUEST authorizer; identity source `route.request.querystring.token`. */
export const AUTHORIZER: FunctionDefinition = {
  id: 'Authorizer',
  entry: 'lambdas/handlers/authorizer.ts',
  description: 'Verifies the JWT in ?token= before the WebSocket opens',
};

/** Invoked asynchronously by `$connect`; posts `welcome` once the socket is postable. */
export const WELCOME: FunctionDefinition = {
  id: 'Welcome',
  entry: 'lambdas/handlers/welcome.ts',
  description: 'Delivers the welcome frame just after $connect',
};

/** Triggered by MSK; fans each record out to its connections. */
export const FANOUT: FunctionDefinition = {
  id: 'Fanout',
  entry: 'lambdas/handlers/fanout.ts',
  description: 'Fans Kafka records out to WebSocket connections',
};

/** Invoked asynchronously by the fan-out, once per shard of a large audience. */
export const FANOUT_WORKER: FunctionDefinition = {
  id: 'FanoutWorker',
  entry: 'lambdas/handlers/fanout-worker.ts',
  description: 'Delivers one shard of a large audience, resuming from its recorded progress',
};

/** Triggered on a schedule; closes and removes stale connections and those whose token expired. */
export const CLEANUP: FunctionDefinition = {
  id: 'Cleanup',
  entry: 'lambdas/handlers/cleanup.ts',
  description: 'Closes and removes connections silent for longer than idle_timeout or whose token expired',
};

/** Behind the server API (an HTTP API with AWS_IAM auth); its routes: SERVER_API_ROUTES. */
export const SERVER_API: FunctionDefinition = {
  id: 'ServerApi',
  entry: 'lambdas/handlers/server-api.ts',
  description: 'Server API: publish, disconnect a user, presence and stats (IAM auth)',
};

export const FUNCTIONS: readonly FunctionDefinition[] = [...ROUTES, AUTHORIZER, WELCOME, FANOUT, FANOUT_WORKER, CLEANUP, SERVER_API];
