import type { UserPresence } from '../../domain/model.js';
import type { PresenceStore } from '../../domain/ports.js';
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
}
