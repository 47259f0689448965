import { isValidChannelName } from '../../../protocol/channels.js';
import type { ProducerRecord, Target } from '../../../protocol/records.js';
import type { ConnectionRef } from '../model.js';
import type { ConnectionStore, SubscriptionStore } from '../ports.js';

/** Who a notification is for, and how to list them. */

/**
 * The audience a record names, or the reason it has none. A record without a target
 * goes to the channel its topic maps to (`kafka.topic_channels`, else the topic's name).
 */
export function targetOf(record: ProducerRecord, topic: string | undefined, topicChannels?: Readonly<Record<string, string>>): Target | string {
  if (record.targetUserId !== undefined) return { kind: 'user', userId: record.targetUserId };
  if (record.channel !== undefined) return { kind: 'channel', channel: record.channel };
  if (record.broadcast) return { kind: 'broadcast' };
  if (topic === undefined) return 'the notification names no target (targetUserId, channel or broadcast)';
  const channel = topicChannels?.[topic] ?? topic;
  if (!isValidChannelName(channel)) {
    return `the record names no target and its topic "${topic}" maps to "${channel}", which is not a channel name; map the topic in kafka.topic_channels`;
  }
  return { kind: 'channel', channel };
}

/** `user:bob`, `channel:news`, `broadcast`: for log lines. */
export function describeTarget(target: Target): string {
  switch (target.kind) {
    case 'user':
      return `user:${target.userId}`;
    case 'channel':
      return `channel:${target.channel}`;
    case 'broadcast':
      return 'broadcast';
  }
}

/** The audience's connections, page by page: the user index, the channel's partition, or the activity index. */
export function audienceOf(
  target: Target,
  stores: { readonly connections: ConnectionStore; readonly subscriptions: SubscriptionStore },
): AsyncIterable<readonly ConnectionRef[]> {
  switch (target.kind) {
    case 'user':
      return singlePage(() => stores.connections.listByUser(target.userId));
    case 'channel':
      return stores.subscriptions.listSubscribers(target.channel);
    case 'broadcast':
      return stores.connections.listAll();
  }
}

/** The whole audience, each connection once, in listing order. */
export async function readAudience(pages: AsyncIterable<readonly ConnectionRef[]>): Promise<ConnectionRef[]> {
  const byId = new Map<string, ConnectionRef>();
  for await (const page of pages) {
    for (const ref of page) if (!byId.has(ref.connectionId)) byId.set(ref.connectionId, { connectionId: ref.connectionId, userId: ref.userId });
  }
  return [...byId.values()];
}

async function* singlePage<T>(read: () => Promise<T[]>): AsyncIterable<T[]> {
  yield await read();
}
