import type { StatsReplyPayload } from '../../protocol/frames.js';
import type { Clock, ConnectionStore } from './ports.js';

/**
 * Connection statistics for operators. Reads the activity index page by page (a query
 * per shard, never a table scan); it is an admin request, not on any delivery path.
 */
export class StatsService {
  constructor(
    private readonly connections: ConnectionStore,
    private readonly clock: Clock,
  ) {}

  async collect(): Promise<StatsReplyPayload> {
    let totalConnections = 0;
    const users = new Set<string>();
    const channels: Record<string, number> = {};
    for await (const page of this.connections.listAll()) {
      for (const connection of page) {
        totalConnections += 1;
        users.add(connection.userId);
        for (const channel of connection.channels) channels[channel] = (channels[channel] ?? 0) + 1;
      }
    }
    return { totalConnections, uniqueUsers: users.size, channels, generatedAt: this.clock.now().toISOString() };
  }
}
