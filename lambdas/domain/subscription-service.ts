import type { ChannelsConfig } from '../config/schema.js';
import type { SubscriptionPayload } from '../../protocol/frames.js';
import type { AccessPolicy } from './access-policy.js';
import { ProtocolError } from './errors.js';
import type { Identity } from './model.js';
import type { ConnectionStore, SubscriptionStore } from './ports.js';
import type { PresenceChannelService } from './presence-channel-service.js';
import type { StreamHeads } from './stream-heads.js';
import { isValidChannelName } from '../../protocol/channels.js';

type Rejection = SubscriptionPayload['rejected'][number];

export interface SubscriptionServiceOptions {
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  readonly access: AccessPolicy;
  readonly config: Pick<ChannelsConfig, 'max_per_connection' | 'max_per_request'>;
  /** Told of every channel added or removed; sends `join` / `leave` for presence channels. */
  readonly presenceChannels?: Pick<PresenceChannelService, 'entered' | 'left'>;
  /** Heads of the accepted channels' streams in the answer (docs/protocol.md section 11). @default none */
  readonly heads?: Pick<StreamHeads, 'ofChannels'>;
}

/** Subscribes and unsubscribes connections, channel by channel, under the access rules. */
export class SubscriptionService {
  constructor(private readonly options: SubscriptionServiceOptions) {}

  /**
   * Each channel is decided on its own: the accepted ones take effect even when others
   * are rejected (protocol section 5).
   */
  async subscribe(connectionId: string, identity: Identity, requested: readonly string[]): Promise<SubscriptionPayload> {
    const channels = this.checkRequestSize(requested);
    const connection = await this.options.connections.get(connectionId);
    if (!connection) throw new ProtocolError('NOT_REGISTERED', 'this connection is no longer registered; reconnect');
    const held = new Set(connection.channels);
    const accepted: string[] = [];
    const rejected: Rejection[] = [];
    let room = this.options.config.max_per_connection - held.size;
    for (const channel of channels) {
      const decision = this.options.access.canSubscribe(identity, channel);
      if (!decision.allowed) {
        rejected.push({ channel, code: decision.code, reason: decision.reason });
      } else if (held.has(channel)) {
        accepted.push(channel);
      } else if (room <= 0) {
        rejected.push({
          channel,
          code: 'LIMIT_EXCEEDED',
          reason: `a connection holds at most ${this.options.config.max_per_connection} channels`,
        });
      } else {
        accepted.push(channel);
        room -= 1;
      }
    }
    const toAdd = accepted.filter((channel) => !held.has(channel));
    const current = toAdd.length > 0 ? await this.options.subscriptions.subscribe({ connectionId, userId: identity.userId }, toAdd) : [...held].sort();
    if (toAdd.length > 0) await this.options.presenceChannels?.entered({ connectionId, userId: identity.userId }, toAdd);
    const streams = await this.options.heads?.ofChannels(connectionId, accepted);
    return { connectionId, channels: current, accepted, rejected, ...(streams ? { streams } : {}) };
  }

  async unsubscribe(connectionId: string, requested: readonly string[]): Promise<SubscriptionPayload> {
    const channels = this.checkRequestSize(requested);
    const accepted: string[] = [];
    const rejected: Rejection[] = [];
    for (const channel of channels) {
      if (isValidChannelName(channel)) accepted.push(channel);
      else rejected.push({ channel, code: 'INVALID_CHANNEL', reason: 'not a channel name' });
    }
    // The user id the presence store keys members by: read only when a presence channel is left.
    const presence = this.options.presenceChannels;
    const owner =
      presence && accepted.some((channel) => this.options.access.isPresenceChannel(channel)) ? await this.options.connections.get(connectionId) : undefined;
    const current =
      accepted.length > 0
        ? await this.options.subscriptions.unsubscribe(connectionId, accepted)
        : [...((await this.options.connections.get(connectionId))?.channels ?? [])].sort();
    if (presence && owner)
      await presence.left(
        { connectionId, userId: owner.userId },
        accepted.filter((channel) => owner.channels.includes(channel)),
      );
    return { connectionId, channels: current, accepted, rejected };
  }

  private checkRequestSize(requested: readonly string[]): string[] {
    const channels = [...new Set(requested)];
    if (channels.length > this.options.config.max_per_request) {
      throw new ProtocolError('INVALID_MESSAGE', `payload.channels: at most ${this.options.config.max_per_request} channels per request`);
    }
    return channels;
  }
}
