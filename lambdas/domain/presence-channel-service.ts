import { randomUUID } from 'node:crypto';
import type { MembersReplyPayload, ServerFrame } from '../../protocol/frames.js';
import type { AccessPolicy } from './access-policy.js';
import { ConnectionGoneError, ConnectionNotFoundError, ProtocolError } from './errors.js';
import type { ConnectionRef } from './model.js';
import type { Clock, ConnectionStore, Log, MessageSender, PresenceChannelStore, SubscriptionStore } from './ports.js';

export interface PresenceChannelServiceOptions {
  readonly store: PresenceChannelStore;
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  readonly sender: MessageSender;
  readonly access: AccessPolicy;
  readonly clock: Clock;
  readonly log: Log;
  /** `channels.presence_max_members`: above it, `members` gives the count only and no `join` / `leave` is sent. */
  readonly maxMembers: number;
}

/**
 * Presence channels (protocol section 9): keeps their members as connections enter and
 * leave, answers `members`, and tells the other subscribers `join` when a user's first
 * connection enters and `leave` when the last one leaves. Channels that are not presence
 * channels are ignored, so callers pass every channel they add or remove.
 */
export class PresenceChannelService {
  constructor(private readonly options: PresenceChannelServiceOptions) {}

  /** The connection now holds `channels`. */
  async entered(ref: ConnectionRef, channels: readonly string[]): Promise<void> {
    const at = this.options.clock.now().toISOString();
    for (const channel of this.presenceChannels(channels)) {
      const change = await this.options.store.join(channel, ref, at);
      if (change.transition) await this.announce('join', channel, ref.userId, change.count);
    }
  }

  /** The connection no longer holds `channels` (unsubscribed, disconnected, removed by cleanup or a 410). */
  async left(ref: ConnectionRef, channels: readonly string[]): Promise<void> {
    for (const channel of this.presenceChannels(channels)) {
      const change = await this.options.store.leave(channel, ref);
      // The count is of the members left; the one who left was one of them.
      if (change.transition) await this.announce('leave', channel, ref.userId, change.count + 1);
    }
  }

  /** `members`, for a connection that holds the presence channel; anything else is FORBIDDEN. */
  async members(connectionId: string, channel: string): Promise<MembersReplyPayload> {
    if (!this.options.access.isPresenceChannel(channel)) throw new ProtocolError('FORBIDDEN', `${channel} is not a presence channel`);
    const connection = await this.options.connections.get(connectionId);
    if (!connection) throw new ConnectionNotFoundError(connectionId);
    if (!connection.channels.includes(channel)) throw new ProtocolError('FORBIDDEN', `subscribe to ${channel} to see its members`);
    const answer = await this.options.store.members(channel, this.options.maxMembers);
    const members: MembersReplyPayload['members'] = {};
    for (const member of answer.members) members[member.userId] = { connections: member.connections, joinedAt: member.joinedAt };
    return { channel, count: answer.count, members, truncated: answer.truncated };
  }

  private presenceChannels(channels: readonly string[]): string[] {
    return [...new Set(channels)].filter((channel) => this.options.access.isPresenceChannel(channel));
  }

  /**
   * Posts `join` / `leave` to the channel's subscribers, except the user's own connections
   * (they know). At most one post per subscriber; none above the member cap. A failed post
   * is logged and skipped: the event is a hint, `members` is the truth a client heals from.
   */
  private async announce(type: 'join' | 'leave', channel: string, userId: string, members: number): Promise<void> {
    const { log, sender, clock } = this.options;
    if (members > this.options.maxMembers) {
      log.debug('presence event not sent: channel above presence_max_members', { channel, type, members });
      return;
    }
    const frame = { messageId: randomUUID(), type, payload: { channel, userId }, timestamp: clock.now().toISOString(), channel } satisfies ServerFrame;
    const data = JSON.stringify(frame);
    for await (const page of this.options.subscriptions.listSubscribers(channel)) {
      await Promise.all(
        page
          .filter((subscriber) => subscriber.userId !== userId)
          .map(async (subscriber) => {
            try {
              await sender.post(subscriber.connectionId, data);
            } catch (error) {
              // 410: that subscriber's own removal (its $disconnect or cleanup) sends its leave.
              if (!(error instanceof ConnectionGoneError))
                log.warn('presence event not delivered', { channel, type, connectionId: subscriber.connectionId, error: String(error) });
            }
          }),
      );
    }
  }
}
