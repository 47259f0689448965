import type { PresenceReplyPayload } from '../protocol/frames.js';
import type { PresenceStore } from './ports.js';

/** Who is online: one batched read of the users' presence entries. */
export class PresenceService {
  constructor(private readonly presence: PresenceStore) {}

  async query(userIds: readonly string[]): Promise<PresenceReplyPayload> {
    const unique = [...new Set(userIds)];
    const found = await this.presence.getPresence(unique);
    const users: PresenceReplyPayload['users'] = {};
    for (const userId of unique) {
      const entry = found.get(userId);
      users[userId] = {
        online: (entry?.connections ?? 0) > 0,
        connections: entry?.connections ?? 0,
        ...(entry?.lastSeenAt ? { lastSeenAt: entry.lastSeenAt } : {}),
      };
    }
    return { users };
  }
}
