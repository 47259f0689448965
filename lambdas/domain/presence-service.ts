import type { PresenceReplyPayload } from '../../protocol/frames.js';
import { ADMIN_ROLE, type AccessPolicy } from './access-policy.js';
import { ConnectionNotFoundError } from './errors.js';
import type { Identity, UserPresence } from './model.js';
import type { ConnectionStore, PresenceStore } from './ports.js';

/**
 * Connections of one user read for the privacy check. The per-user limit keeps users
 * well below this by default; with a higher limit, a user visible only through a later
 * connection is reported offline: the check fails closed.
 */
export const PRESENCE_CONNECTIONS_READ_PER_USER = 10;

export interface PresenceServiceOptions {
  readonly presence: PresenceStore;
  readonly connections: ConnectionStore;
  readonly access: AccessPolicy;
}

/** Who asks: the connection (its channels decide what it may see) and its identity. */
export interface PresenceAsker {
  readonly connectionId: string;
  readonly identity: Identity;
}

/**
 * Who is online, under the presence privacy rule (docs/security.md, "Presence privacy"):
 * an asker sees themselves; `admin` sees anyone; anyone else sees a user only while that
 * user holds a presence channel (`channels.presence`) this connection holds
 * ({@link AccessPolicy.revealsPresence}). Every other user is answered exactly as an
 * offline user is (`online: false, connections: 0`, no `lastSeenAt`), so the answer
 * tells nothing beyond what the asker may see.
 */
export class PresenceService {
  constructor(private readonly options: PresenceServiceOptions) {}

  async query(asker: PresenceAsker, userIds: readonly string[]): Promise<PresenceReplyPayload> {
    const unique = [...new Set(userIds)];
    const visible = await this.visiblePresence(asker, unique);
    const users: PresenceReplyPayload['users'] = {};
    for (const userId of unique) {
      const entry = visible.get(userId);
      users[userId] = {
        online: (entry?.connections ?? 0) > 0,
        connections: entry?.connections ?? 0,
        ...(entry?.lastSeenAt ? { lastSeenAt: entry.lastSeenAt } : {}),
      };
    }
    return { users };
  }

  /** The presence of the users the asker may see; the others are left out. */
  private async visiblePresence(asker: PresenceAsker, userIds: readonly string[]): Promise<Map<string, UserPresence>> {
    const { presence } = this.options;
    const self = asker.identity.userId;
    if (asker.identity.roles.includes(ADMIN_ROLE)) return presence.getPresence(userIds);
    const others = userIds.filter((userId) => userId !== self);
    const revealing = others.length > 0 ? await this.revealingChannelsOf(asker.connectionId) : [];
    if (revealing.length === 0) {
      // Nobody else can be visible: no need to read anyone else's entry.
      return userIds.includes(self) ? presence.getPresence([self]) : new Map();
    }
    const found = await presence.getPresenceWithChannels(userIds, { connectionsPerUser: PRESENCE_CONNECTIONS_READ_PER_USER });
    const visible = new Map<string, UserPresence>();
    for (const [userId, entry] of found) {
      if (userId === self || revealing.some((channel) => entry.channels.has(channel))) {
        visible.set(userId, { connections: entry.connections, ...(entry.lastSeenAt ? { lastSeenAt: entry.lastSeenAt } : {}) });
      }
    }
    return visible;
  }

  private async revealingChannelsOf(connectionId: string): Promise<string[]> {
    const connection = await this.options.connections.get(connectionId);
    if (!connection) throw new ConnectionNotFoundError(connectionId);
    return connection.channels.filter((channel) => this.options.access.revealsPresence(channel));
  }
}
