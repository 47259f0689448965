import type { UserPresence } from '../../domain/model.js';
import type { PresenceStore, UserPresenceWithChannels } from '../../domain/ports.js';
import type { MemoryState } from './state.js';

/** The in-memory twin of DynamoDbPresenceStore. */
export class MemoryPresenceStore implements PresenceStore {
  constructor(private readonly state: MemoryState) {}

  async getPresence(userIds: readonly string[]): Promise<Map<string, UserPresence>> {
    const presence = new Map<string, UserPresence>();
    for (const userId of new Set(userIds)) {
      const user = this.state.users.get(userId);
      if (!user) continue;
      presence.set(userId, {
        connections: user.connectionIds.size,
        ...(user.lastSeenAt !== undefined ? { lastSeenAt: user.lastSeenAt } : {}),
      });
    }
    return presence;
  }

  async getPresenceWithChannels(userIds: readonly string[], options: { readonly connectionsPerUser: number }): Promise<Map<string, UserPresenceWithChannels>> {
    const presence = await this.getPresence(userIds);
    const withChannels = new Map<string, UserPresenceWithChannels>();
    for (const [userId, entry] of presence) {
      const channels = new Set<string>();
      const read = [...(this.state.users.get(userId)?.connectionIds ?? [])].sort().slice(0, options.connectionsPerUser);
      for (const connectionId of read) {
        const connection = this.state.connections.get(connectionId);
        if (connection?.userId === userId) for (const channel of connection.channels) channels.add(channel);
      }
      withChannels.set(userId, { ...entry, channels });
    }
    return withChannels;
  }
}
