/** Who a connection belongs to, as the authorizer established it. */
export interface Identity {
  readonly userId: string;
  readonly roles: readonly string[];
  /**
   * ISO-8601 UTC: when the token that established this identity expires (its `exp`).
   * Absent only for identities built without a token (tests, internal callers).
   */
  readonly tokenExpiresAt?: string;
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
  /**
   * ISO-8601 UTC: when the connection's token expires; moved later by `refresh`. Cleanup
   * closes the connection once it has passed. Absent: the connection does not expire
   * by token (opened without one), only by API Gateway's two-hour limit.
   */
  readonly tokenExpiresAt?: string;
  /** The client drops duplicates by stream position (`?dedupe=1` at connect, docs/protocol.md section 11). */
  readonly dedupe?: boolean;
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
