import { ConnectionNotFoundError } from '../../domain/errors.js';
import type { HeartbeatActivity, RateLimiter } from '../../domain/ports.js';
import type { MemoryState } from './state.js';

/** The in-memory twin of DynamoDbRateLimiter: a token bucket per known connection. */
export class MemoryRateLimiter implements RateLimiter {
  constructor(
    private readonly state: MemoryState,
    private readonly options: { readonly ratePerSecond: number; readonly burst: number },
  ) {
    if (!(options.ratePerSecond > 0)) throw new Error(`ratePerSecond: ${options.ratePerSecond}; it must be above 0`);
    if (!(options.burst >= 1)) throw new Error(`burst: ${options.burst}; it must be at least 1`);
  }

  async tryTake(connectionId: string, nowMs: number, heartbeat?: HeartbeatActivity): Promise<boolean> {
    const connection = this.state.connections.get(connectionId);
    if (!connection) {
      if (heartbeat) throw new ConnectionNotFoundError(connectionId);
      // Nothing to charge: the route handler deals with connections that are gone.
      return true;
    }
    heartbeat?.read?.({ userId: connection.userId, channels: [...connection.channels] });
    const bucket = this.state.rateBuckets.get(connectionId);
    const available = bucket
      ? Math.min(this.options.burst, bucket.tokens + (Math.max(0, nowMs - bucket.at) / 1000) * this.options.ratePerSecond)
      : this.options.burst;
    if (available < 1) return false;
    // As DynamoDbRateLimiter: `at` never moves back, so time is only credited once.
    this.state.rateBuckets.set(connectionId, { tokens: available - 1, at: Math.max(nowMs, bucket?.at ?? nowMs) });
    // No index to spare here: lastSeenAt is the exact last heartbeat, as
    // DynamoDbConnectionStore.get reports it (the later of lastSeenAt and heartbeatAt).
    if (heartbeat && heartbeat.at > connection.lastSeenAt) {
      this.state.connections.set(connectionId, { ...connection, lastSeenAt: heartbeat.at });
    }
    return true;
  }
}
