import { randomUUID } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { batchWriteAll } from '../lambdas/adapters/dynamodb/batch-operations.js';
import { streamItems } from '../lambdas/adapters/dynamodb/notification-log.js';
import type { TableNames } from '../protocol/tables.js';
import { getApplication } from '../lambdas/application.js';
import { getServices } from '../lambdas/composition.js';
import type { StoredNotification } from '../lambdas/domain/ports.js';
import type { ServerFrame } from '../protocol/frames.js';
import { LOCAL_REGION } from '../local/aws-identity.js';
import { childInput, reportProgress, runChildTask } from './child-process.js';
import { meteredRequests, resetMeter, sequentialRoundTrips, type MeteredRequest } from './dynamodb-request-meter.js';
import { notificationValue } from './fanout-assembly.js';
import { seedConnections, settled, startMeteredRuntime } from './metered-runtime.js';

/**
 * B6, what presence channels and the inbox cost (issues 11 and 12), on the production
 * composition as B2 measures it (bench/metered-runtime.ts: the local runtime in this
 * process against DynamoDB Local, every DynamoDB request metered, the Management API a
 * stand-in that counts posts):
 *
 * - presence: a user's first connection subscribing to a presence channel of N members
 *   (the `join`), a second tab of that user (no event), its close (no event) and the last
 *   one's unsubscribe (the `leave`), each through the client-request path as the
 *   `subscribe` / `unsubscribe` routes run it; requests, write units, posts.
 * - inbox on the delivery path: a user-targeted notification to an empty inbox and to
 *   an inbox of `inboxItems` unread items, each request attributed to its table and key.
 * - markRead of one id and of all on that inbox, through the `markRead` route's path;
 *   and of one id by a user who has read `readAroundUnread` items by id around an old
 *   unread one (the read state's exceptions beyond the state item, as items).
 */

export interface B6Input {
  readonly dynamodbEndpoint: string;
  /** Members already in the presence channel when the measured user joins. */
  readonly presenceSizes: readonly number[];
  /** Items of the inbox that markRead and the second delivery meet. */
  readonly inboxItems: number;
  /** Items another user reads by id around the oldest, which stays unread, before one more is read. */
  readonly readAroundUnread: number;
}

/** DynamoDB cost of one measured step. */
export interface StepCost {
  readonly requests: number;
  readonly failedRequests: number;
  readonly readCapacityUnits: number;
  readonly writeCapacityUnits: number;
  /** Requests per `{table} {key family} {operation}`, e.g. `Subscriptions presence# UpdateItem`. */
  readonly byTarget: Readonly<Record<string, number>>;
}

export interface PresenceStep extends StepCost {
  /** `join`, `second tab`, `second tab leaves`, `leave`. */
  readonly step: string;
  /** Management API posts the step made (join / leave events; the reply is a route response). */
  readonly posts: number;
  /** Of the requests, those on the presence channel's member partition and its subscriber list. */
  readonly presenceRequests: number;
  readonly presenceWriteCapacityUnits: number;
}

export interface PresenceCase {
  /** Members before the join (each a user with one connection subscribed). */
  readonly members: number;
  /** `channels.presence_max_members`. */
  readonly maxMembers: number;
  readonly steps: readonly PresenceStep[];
}

export interface InboxDeliveryCase extends StepCost {
  readonly name: string;
  /** Items in the recipient's inbox when the notification came. */
  readonly inboxItems: number;
  readonly roundTripsBeforeFirstPost: number;
  /** Of the requests, those on the recipient's inbox: its `user#` stream item and `inbox#` state. */
  readonly inboxRequests: number;
  readonly inboxWriteCapacityUnits: number;
  /** Round trips before the first post with the `user#` stream item's request taken out. */
  readonly roundTripsWithoutStreamItem: number;
}

export interface MarkReadCase extends StepCost {
  readonly name: string;
  readonly inboxItems: number;
  /** Unread before the call. */
  readonly unreadBefore: number;
  readonly unreadAfter: number;
  /** Ids the answer listed, and whether it said the list was cut. */
  readonly idsListed: number;
  readonly truncated: boolean;
  /** The answer frame's size in bytes (API Gateway's limit: 131,072). */
  readonly answerBytes: number;
}

export interface B6Output {
  readonly presence: readonly PresenceCase[];
  readonly inboxDelivery: readonly InboxDeliveryCase[];
  readonly markRead: readonly MarkReadCase[];
  /** welcome's unreadCount on the large inbox (the one inbox read at connect). */
  readonly unreadCountAtWelcome: StepCost & { readonly inboxItems: number; readonly unread: number };
}

/** What a partition key without a `#` family names, per table (a Query of Connections goes by user, through its index). */
const PLAIN_KEYS: Readonly<Record<string, string>> = { Connections: '(connection)', Subscriptions: '(channel)', Users: '(user)' };

/** `{table} {key family} {operation}`: the key up to its first `#` (`user#`), or what a plain key names. */
function targetLabel(request: MeteredRequest, tableIds: ReadonlyMap<string, string>): string {
  const table = (request.table ?? '?')
    .split(',')
    .map((name) => tableIds.get(name) ?? name)
    .join('+');
  const partition = request.partition;
  const plain = table === 'Connections' && request.operation === 'QueryCommand' ? '(user)' : (PLAIN_KEYS[table] ?? '(key)');
  const family = partition === undefined ? '' : partition.includes('#') ? `${partition.slice(0, partition.indexOf('#') + 1)}` : plain;
  return [table, family, request.operation.replace(/Command$/, '')].filter(Boolean).join(' ');
}

function costOf(requests: readonly MeteredRequest[], tableIds: ReadonlyMap<string, string>): StepCost {
  const byTarget: Record<string, number> = {};
  for (const request of requests) {
    const label = targetLabel(request, tableIds);
    byTarget[label] = (byTarget[label] ?? 0) + 1;
  }
  return {
    requests: requests.length,
    failedRequests: requests.filter((request) => request.failed).length,
    readCapacityUnits: sum(requests.filter((request) => request.kind === 'read').map((request) => request.capacityUnits)),
    // The meter bills a failed conditional write in capacityUnits already.
    writeCapacityUnits: sum(requests.filter((request) => request.kind === 'write').map((request) => request.capacityUnits)),
    byTarget,
  };
}

const sum = (values: readonly number[]) => Math.round(values.reduce((total, value) => total + value, 0) * 100) / 100;

runChildTask(async (): Promise<B6Output> => {
  const input = childInput<B6Input>();
  const { sink, tables, produce, stop } = await startMeteredRuntime({ dynamodbEndpoint: input.dynamodbEndpoint, prefix: 'bench-b6' });
  const tableIds = new Map(Object.entries(tables as TableNames).map(([id, name]) => [name, id]));
  try {
    const presence: PresenceCase[] = [];
    for (const members of input.presenceSizes) {
      reportProgress(`presence channel of ${members}: seeding`);
      presence.push(await measurePresence(members, sink.posts, tableIds));
    }
    reportProgress('inbox: a notification to an empty inbox');
    const recipient = `b6-inbox-${randomUUID().slice(0, 8)}`;
    await seedConnections(1, 1, recipient, undefined);
    const userId = `${recipient}-0`;
    const deliver = async (name: string, inboxItems: number): Promise<InboxDeliveryCase> => {
      await settled(sink.posts, sink.posts(), `${name}: before`);
      resetMeter();
      const postsBefore = sink.posts();
      const record = notificationValue({ targetUserId: userId });
      const { messageId } = JSON.parse(record) as { messageId: string };
      await produce([record], name);
      await settled(sink.posts, postsBefore + 1, name);
      const firstPostAt = sink.firstPostAt(messageId);
      if (firstPostAt === undefined) throw new Error(`${name}: no post of ${messageId}`);
      const requests = meteredRequests();
      const onInbox = requests.filter((request) => request.partition === `user#${userId}` || request.partition === `inbox#${userId}`);
      return {
        name,
        inboxItems,
        ...costOf(requests, tableIds),
        roundTripsBeforeFirstPost: sequentialRoundTrips(requests, firstPostAt),
        inboxRequests: onInbox.length,
        inboxWriteCapacityUnits: sum(onInbox.filter((request) => request.kind === 'write').map((request) => request.capacityUnits)),
        roundTripsWithoutStreamItem: sequentialRoundTrips(
          requests.filter((request) => request.partition !== `user#${userId}`),
          firstPostAt,
        ),
      };
    };
    const inboxDelivery: InboxDeliveryCase[] = [await deliver('user-targeted, empty inbox', 0)];

    // With the one just delivered, the inbox then holds `inboxItems`.
    const seeded = input.inboxItems - 1;
    reportProgress(`inbox: writing ${seeded} items`);
    const start = Date.now() - (seeded + 60) * 1000;
    const items: StoredNotification[] = Array.from({ length: seeded }, (_, index) => storedNotification(new Date(start + index * 1000).toISOString()));
    // Written as the fan-out writes stream items; seeding is not measured.
    const seed = async (owner: string, notifications: readonly StoredNotification[]): Promise<void> => {
      const client = DynamoDBDocumentClient.from(new DynamoDBClient({ endpoint: input.dynamodbEndpoint, region: LOCAL_REGION }));
      try {
        await batchWriteAll(
          client,
          tables.Notifications,
          notifications.flatMap((item) => streamItems(item, [{ kind: 'user', userId: owner }], 86_400)).map((Item) => ({ PutRequest: { Item } })),
        );
      } finally {
        client.destroy();
      }
    };
    await seed(userId, items);
    const { inbox } = getServices();
    const connectionId = `${recipient}-conn-0`;
    const context = { connectionId, identity: { userId, roles: [] } };

    let inboxItems = input.inboxItems;
    reportProgress(`inbox: unreadCount of ${inboxItems}`);
    resetMeter();
    const unread = await inbox.unreadCount(userId);
    const unreadCountAtWelcome = { inboxItems, unread, ...costOf(meteredRequests(), tableIds) };

    const markRead: MarkReadCase[] = [];
    const mark = async (name: string, payload: unknown, who = context, itemsOfInbox = inboxItems): Promise<void> => {
      const unreadBefore = await inbox.unreadCount(who.identity.userId);
      resetMeter();
      const answer = await getApplication().requests.handle(who, JSON.stringify({ type: 'markRead', messageId: randomUUID(), payload }));
      const cost = costOf(meteredRequests(), tableIds);
      if (answer.type !== 'inboxState') throw new Error(`${name}: answered ${JSON.stringify(answer).slice(0, 300)}`);
      const state = answer.payload as { unreadCount: number; read: string[]; truncated?: boolean };
      markRead.push({
        name,
        inboxItems: itemsOfInbox,
        unreadBefore,
        unreadAfter: state.unreadCount,
        idsListed: state.read.length,
        truncated: state.truncated === true,
        answerBytes: Buffer.byteLength(JSON.stringify(answer)),
        ...cost,
      });
    };
    reportProgress(`inbox: markRead of one id on ${inboxItems}`);
    await mark('markRead one id', { messageIds: [items[Math.floor(items.length / 2)]!.messageId] });
    reportProgress('inbox: a notification to the large inbox');
    inboxDelivery.push(await deliver(`user-targeted, inbox of ${inboxItems} (read state kept)`, inboxItems));
    inboxItems += 1;
    reportProgress(`inbox: markRead all on ${inboxItems}`);
    await mark('markRead all', { all: true });

    // A user who keeps the oldest item unread and reads the others one by one: the read
    // state's exceptions outgrow the state item (READ_ABOVE_IN_STATE) into items of their own.
    const aroundUnread = input.readAroundUnread;
    reportProgress(`inbox: ${aroundUnread} read around an old unread item`);
    const readerRecipient = `b6-reader-${randomUUID().slice(0, 8)}`;
    await seedConnections(1, 1, readerRecipient, undefined);
    const readerId = `${readerRecipient}-0`;
    const readerItems = Array.from({ length: aroundUnread + 2 }, (_, index) => storedNotification(new Date(start + index * 1000).toISOString()));
    await seed(readerId, readerItems);
    for (let from = 2; from < readerItems.length; from += 100) {
      await inbox.markRead(
        readerId,
        readerItems.slice(from, from + 100).map((item) => item.messageId),
      );
    }
    await mark(
      `markRead one id, ${aroundUnread} read around an old unread one`,
      { messageIds: [readerItems[1]!.messageId] },
      {
        connectionId: `${readerRecipient}-conn-0`,
        identity: { userId: readerId, roles: [] },
      },
      readerItems.length,
    );
    return { presence, inboxDelivery, markRead, unreadCountAtWelcome };
  } finally {
    await stop();
  }
});

function storedNotification(acceptedAt: string): StoredNotification {
  const messageId = randomUUID();
  return {
    messageId,
    acceptedAt,
    frame: {
      messageId,
      type: 'notification',
      timestamp: acceptedAt,
      targetUserId: 'bench',
      payload: {
        notificationId: randomUUID(),
        title: 'Booking Confirmed',
        message: 'Your booking BK-1042 is confirmed.',
        priority: 'medium',
        createdAt: acceptedAt,
      },
    },
  };
}

/** Members before the join, the join of a new user, a second tab, its close, and the leave. */
async function measurePresence(members: number, posts: () => number, tableIds: ReadonlyMap<string, string>): Promise<PresenceCase> {
  const services = getServices();
  const channel = `presence-bench-${members}-${randomUUID().slice(0, 6)}`;
  const prefix = `b6p${members}-${randomUUID().slice(0, 6)}`;
  await seedConnections(members, 1, prefix, channel);
  const at = new Date().toISOString();
  for (let index = 0; index < members; index += 64) {
    await Promise.all(
      Array.from({ length: Math.min(64, members - index) }, (_, offset) =>
        services.presenceChannels.join(channel, { connectionId: `${prefix}-conn-${index + offset}`, userId: `${prefix}-${index + offset}` }, at),
      ),
    );
  }
  const joiner = `${prefix}-joiner`;
  await seedConnections(2, 2, joiner, undefined);
  const tab = (index: number) => ({ connectionId: `${joiner}-conn-${index}`, identity: { userId: `${joiner}-0`, roles: [] } });
  const steps: PresenceStep[] = [];
  const step = async (name: string, index: number, type: 'subscribe' | 'unsubscribe'): Promise<void> => {
    await settled(posts, posts(), `${name}: before`);
    resetMeter();
    const before = posts();
    const answer: ServerFrame = await getApplication().requests.handle(
      tab(index),
      JSON.stringify({ type, messageId: randomUUID(), payload: { channels: [channel] } }),
    );
    if (answer.type !== 'subscription') throw new Error(`presence ${name}: answered ${JSON.stringify(answer).slice(0, 300)}`);
    await settled(posts, before, name);
    const requests = meteredRequests();
    const presence = requests.filter((request) => request.partition === `presence#${channel}` || request.partition === channel);
    steps.push({
      step: name,
      posts: posts() - before,
      ...costOf(requests, tableIds),
      presenceRequests: presence.length,
      presenceWriteCapacityUnits: sum(presence.filter((request) => request.kind === 'write').map((request) => request.capacityUnits)),
    });
  };
  await step('join', 0, 'subscribe');
  await step('second tab', 1, 'subscribe');
  await step('second tab leaves', 1, 'unsubscribe');
  await step('leave', 0, 'unsubscribe');
  return { members, maxMembers: services.config.channels.presence_max_members, steps };
}
