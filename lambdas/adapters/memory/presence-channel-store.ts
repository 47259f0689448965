import type { ConnectionRef } from '../../domain/model.js';
import type { ChannelMember, ChannelMembers, MemberChange, PresenceChannelStore } from '../../domain/ports.js';

interface MemberEntry {
  readonly connectionIds: Set<string>;
  readonly joinedAt: string;
}

/** Presence channel members in a map: channel -> user id -> entry. Single-threaded, so every change is atomic. */
export class MemoryPresenceChannelStore implements PresenceChannelStore {
  private readonly channels = new Map<string, Map<string, MemberEntry>>();

  async join(channel: string, ref: ConnectionRef, at: string): Promise<MemberChange> {
    let members = this.channels.get(channel);
    if (!members) this.channels.set(channel, (members = new Map()));
    const entry = members.get(ref.userId);
    if (entry) {
      entry.connectionIds.add(ref.connectionId);
      return { transition: false };
    }
    members.set(ref.userId, { connectionIds: new Set([ref.connectionId]), joinedAt: at });
    return { transition: true, count: members.size };
  }

  async leave(channel: string, ref: ConnectionRef): Promise<MemberChange> {
    const members = this.channels.get(channel);
    const entry = members?.get(ref.userId);
    if (!members || !entry?.connectionIds.delete(ref.connectionId) || entry.connectionIds.size > 0) return { transition: false };
    members.delete(ref.userId);
    if (members.size === 0) this.channels.delete(channel);
    return { transition: true, count: members.size };
  }

  async members(channel: string, limit: number): Promise<ChannelMembers> {
    const members = this.channels.get(channel) ?? new Map<string, MemberEntry>();
    if (members.size > limit) return { count: members.size, members: [], truncated: true };
    const listed: ChannelMember[] = [...members].map(([userId, entry]) => ({ userId, connections: entry.connectionIds.size, joinedAt: entry.joinedAt }));
    return { count: members.size, members: listed, truncated: false };
  }
}
