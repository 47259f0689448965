/** Who a connection belongs to, as the authorizer established it. */
export interface Identity {
  readonly userId: string;
  readonly roles: readonly string[];
}

/** A live WebSocket connection as the store keeps it. */
export interface Connection {
  readonly connectionId: string;
  readonly userId: string;
  readonly roles: readonly string[];
  /** ISO-8601 UTC. */
  readonly connectedAt: string;
  /** ISO-8601 UTC; refreshed by heartbeats, at most once per write interval. */
  readonly lastSeenAt: string;
  /** Every channel the connection is subscribed to, automatic ones included. */
  readonly channels: readonly string[];
  readonly subprotocol?: string;
}

/** Enough of a connection to post to it and to attribute the post. */
export interface ConnectionRef {
  readonly connectionId: string;
  readonly userId: string;
}

/** A connection as listed from the activity index (cleanup, broadcast, stats). */
export interface ConnectionSummary extends ConnectionRef {
  readonly lastSeenAt: string;
  readonly channels: readonly string[];
}

/** Presence of one user. */
export interface UserPresence {
  readonly connections: number;
  readonly lastSeenAt?: string;
}
