import { randomUUID } from 'node:crypto';
import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryConnectionStore, MemoryInboxStore, MemoryState } from '../../lambdas/adapters/memory/index.js';
import type { ClientRequestContext } from '../../lambdas/domain/client-requests.js';
import { ConnectionService } from '../../lambdas/domain/connection-service.js';
import { encodeInboxCursor, inboxStateAnswer } from '../../lambdas/domain/inbox-service.js';
import type { Log, StoredNotification } from '../../lambdas/domain/ports.js';
import { aNotification } from '../adapters/contracts/notification-log.contract.js';
import { buildInMemoryService, snapshotOf } from '../support/in-memory-service.js';
import { RecordingSender } from '../support/recording-sender.js';

const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
const alice: ClientRequestContext = { connectionId: 'conn-alice-phone', identity: { userId: 'alice', roles: [] } };
const aliceLaptop: ClientRequestContext = { connectionId: 'conn-alice-laptop', identity: { userId: 'alice', roles: [] } };
const bob: ClientRequestContext = { connectionId: 'conn-bob', identity: { userId: 'bob', roles: [] } };

function frame(type: string, payload: unknown, messageId: string = randomUUID()): string {
  return JSON.stringify({ type, payload, messageId });
}

describe('InboxService', () => {
  let service: ReturnType<typeof buildInMemoryService>;
  let aliceSent: StoredNotification[];
  let bobSent: StoredNotification[];

  /** Notifications to `userId`, one a second from 2033-01-01, oldest first. */
  async function sendTo(userId: string, count: number, minute: number): Promise<StoredNotification[]> {
    const sent = Array.from({ length: count }, (_, index) => aNotification(new Date(Date.UTC(2033, 0, 1, 0, minute, index)).toISOString()));
    for (const notification of sent) await service.notifications.append(notification, [{ kind: 'user', userId }], 3600);
    return sent;
  }

  beforeEach(async () => {
    service = buildInMemoryService();
    for (const context of [alice, aliceLaptop, bob]) await service.connectionService.connect(context.connectionId, context.identity);
    aliceSent = await sendTo('alice', 5, 0);
    bobSent = await sendTo('bob', 2, 1);
  });

  describe('inbox', () => {
    it("answers the caller's own items newest first, with read state, unreadCount and a cursor to the next page", async () => {
      const messageId = randomUUID();

      const reply = await service.requests.handle(alice, frame('inbox', { limit: 3 }, messageId));

      expect(reply).toMatchObject({ type: 'inbox', replyTo: messageId });
      const payload = reply.payload as {
        items: { messageId: string; read: boolean; timestamp: string; notification: unknown }[];
        unreadCount: number;
        nextCursor?: string;
      };
      expect(payload.items.map((item) => item.messageId)).toEqual([aliceSent[4], aliceSent[3], aliceSent[2]].map((n) => n!.messageId));
      expect(payload.items[0]).toEqual({
        messageId: aliceSent[4]!.messageId,
        timestamp: aliceSent[4]!.acceptedAt,
        read: false,
        notification: aliceSent[4]!.frame.payload,
      });
      expect(payload.unreadCount).toBe(5);
      const next = await service.requests.handle(alice, frame('inbox', { limit: 3, before: payload.nextCursor }));
      expect((next.payload as { items: { messageId: string }[] }).items.map((item) => item.messageId)).toEqual(
        [aliceSent[1], aliceSent[0]].map((n) => n!.messageId),
      );
      expect(next.payload).not.toHaveProperty('nextCursor');
    });

    it.each([
      ['a cursor that is no base64url', { before: 'not a cursor!' }],
      ['a cursor of no inbox position', { before: Buffer.from('user#bob').toString('base64url') }],
      ['a cursor with a non-canonical instant', { before: encodeInboxCursor(`2033-01-01T00:00:00Z#${randomUUID()}`) }],
      ['limit 0', { limit: 0 }],
      ['limit 101', { limit: 101 }],
      ['a fractional limit', { limit: 2.5 }],
      ['unreadOnly not a boolean', { unreadOnly: 'yes' }],
    ])('refuses %s with INVALID_MESSAGE', async (_name, payload) => {
      const reply = await service.requests.handle(alice, frame('inbox', payload));

      expect(reply).toMatchObject({ type: 'error', payload: { code: 'INVALID_MESSAGE' } });
    });
  });

  describe('markRead', () => {
    it("answers inboxState and pushes the same state to the user's other connections only", async () => {
      const messageId = randomUUID();

      const reply = await service.requests.handle(alice, frame('markRead', { messageIds: [aliceSent[0]!.messageId] }, messageId));

      expect(reply).toMatchObject({ type: 'inboxState', replyTo: messageId, payload: { unreadCount: 4, read: [aliceSent[0]!.messageId] } });
      const pushed = service.sender.posts.filter((post) => post.frame.type === 'inboxState');
      expect(pushed.map((post) => post.connectionId)).toEqual([aliceLaptop.connectionId]);
      expect(pushed[0]!.frame).toMatchObject({ payload: { unreadCount: 4, read: [aliceSent[0]!.messageId] } });
      expect(pushed[0]!.frame).not.toHaveProperty('replyTo');
    });

    it('marks all read: the count is 0 on every device, and nothing is pushed when nothing changed', async () => {
      const all = await service.requests.handle(alice, frame('markRead', { all: true }));
      const again = await service.requests.handle(aliceLaptop, frame('markRead', { all: true }));

      expect(all.payload).toMatchObject({ unreadCount: 0 });
      expect((all.payload as { read: string[] }).read.sort()).toEqual(aliceSent.map((n) => n.messageId).sort());
      expect(again.payload).toEqual({ unreadCount: 0, read: [] });
      expect(service.sender.posts.filter((post) => post.frame.type === 'inboxState')).toHaveLength(1);
    });

    it("changes nothing for someone else's ids and never answers with them", async () => {
      const reply = await service.requests.handle(alice, frame('markRead', { messageIds: bobSent.map((n) => n.messageId) }));

      expect(reply.payload).toEqual({ unreadCount: 5, read: [] });
      const bobsInbox = await service.requests.handle(bob, frame('inbox', {}));
      expect((bobsInbox.payload as { unreadCount: number }).unreadCount).toBe(2);
      const alicesInbox = await service.requests.handle(alice, frame('inbox', { limit: 100 }));
      expect(JSON.stringify(alicesInbox)).not.toContain(bobSent[0]!.messageId);
    });

    it.each([
      ['both messageIds and all', { messageIds: [randomUUID()], all: true }],
      ['no ids', { messageIds: [] }],
      ['101 ids', { messageIds: Array.from({ length: 101 }, () => randomUUID()) }],
      ['an id that is no uuid', { messageIds: ['x'] }],
      ['all: false', { all: false }],
      ['an empty payload', {}],
    ])('refuses %s with INVALID_MESSAGE and changes nothing', async (_name, payload) => {
      const before = snapshotOf(service);

      const reply = await service.requests.handle(alice, frame('markRead', payload));

      expect(reply).toMatchObject({ type: 'error', payload: { code: 'INVALID_MESSAGE' } });
      expect(snapshotOf(service)).toBe(before);
    });
  });

  describe('welcome', () => {
    it("carries the user's unreadCount", async () => {
      const state = new MemoryState();
      const connections = new MemoryConnectionStore(state);
      const inbox = new MemoryInboxStore(state);
      const sender = new RecordingSender();
      const welcoming = new ConnectionService({
        connections,
        sender,
        inbox,
        welcome: { schedule: async () => {} },
        clock: { now: () => new Date('2033-01-02T00:00:00.000Z') },
        log: silent,
        config: service.config.websocket,
      });
      state.notifications.set('user#carol', new Map(aliceSent.slice(0, 3).map((n) => [n.messageId, n])));
      await welcoming.connect('conn-carol', { userId: 'carol', roles: [] });

      await welcoming.deliverWelcome('conn-carol');

      expect(sender.posts[0]!.frame).toMatchObject({ type: 'welcome', payload: { unreadCount: 3 } });
    });
  });
});

describe('inboxStateAnswer', () => {
  const ids = Array.from({ length: 5 }, () => randomUUID());

  it('lists every id when they fit, with no truncated or readUpTo', () => {
    expect(inboxStateAnswer({ unreadCount: 2, read: ids, readUpTo: `2033-01-01T00:00:05.000Z#${ids[0]}` }, 5)).toEqual({ unreadCount: 2, read: ids });
  });

  it("keeps the newest ids when more changed, and says so with the watermark's timestamp", () => {
    const answer = inboxStateAnswer({ unreadCount: 0, read: ids, readUpTo: `2033-01-01T00:00:05.000Z#${ids[0]}` }, 3);

    expect(answer).toEqual({ unreadCount: 0, read: ids.slice(0, 3), truncated: true, readUpTo: '2033-01-01T00:00:05.000Z' });
  });
});
