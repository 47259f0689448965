import { randomUUID } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotificationClient, type NotificationClientOptions } from '../../client/index.js';
import { ClientEvents } from './client-events.js';
import { FakeNotificationServer, type FakeConnection, type ReceivedFrame } from './fake-server.js';

/**
 * The SDK's presence-channel and inbox API (protocol sections 9 and 10) against the fake
 * server over real sockets: the edges the real service will not produce on demand.
 */
describe('NotificationClient presence channels and inbox (fake server)', () => {
  let server: FakeNotificationServer;
  const clients: NotificationClient[] = [];

  const createClient = (options: Partial<NotificationClientOptions> = {}) => {
    const client = new NotificationClient({
      url: server.url,
      token: 'alice:static',
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
      ...options,
    } as NotificationClientOptions);
    clients.push(client);
    return { client, events: new ClientEvents(client) };
  };

  /** Answers `members` on `connection` with `members` for `presence-*` channels it holds, FORBIDDEN otherwise. */
  const answerMembers = (connection: FakeConnection) => {
    connection.unanswered.add('members');
    connection.socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ReceivedFrame;
      if (frame.type !== 'members') return;
      const channel = String(frame.payload.channel);
      if (!channel.startsWith('presence-') || !connection.channels.has(channel)) {
        connection.reply(frame, 'error', { code: 'FORBIDDEN', message: 'not a presence channel this connection holds' });
        return;
      }
      const joinedAt = new Date().toISOString();
      connection.reply(frame, 'members', {
        channel,
        count: 2,
        members: { alice: { connections: 1, joinedAt }, bob: { connections: 1, joinedAt } },
        truncated: false,
      });
    });
  };

  const memberEvent = (connection: FakeConnection, type: 'join' | 'leave', channel: string, userId: string) =>
    connection.send({ type, channel, payload: { channel, userId } });

  const targetedNotification = (userId: string) => ({
    type: 'notification',
    messageId: randomUUID(),
    targetUserId: userId,
    channel: `user-${userId}`,
    payload: { notificationId: randomUUID(), title: 'Hi', message: 'Hi!', priority: 'medium', createdAt: new Date().toISOString() },
  });

  beforeEach(async () => {
    server = await FakeNotificationServer.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.stop();
  });

  describe('members, join and leave', () => {
    it('asks members for a channel, resolves with the answer and emits it as `members`', async () => {
      const { client, events } = createClient();
      await client.connect();
      const connection = await server.connection(0);
      answerMembers(connection);
      await client.subscribe(['presence-lobby']);

      const answer = await client.members('presence-lobby');

      expect((await connection.nextRequest((frame) => frame.type === 'members')).payload).toEqual({ channel: 'presence-lobby' });
      expect(answer).toMatchObject({ channel: 'presence-lobby', count: 2, truncated: false });
      expect(events.of('members')).toEqual([answer]);
    });

    it('emits join and leave with the channel and the user', async () => {
      const { client, events } = createClient();
      await client.connect();
      const connection = await server.connection(0);

      memberEvent(connection, 'join', 'presence-lobby', 'bob');
      memberEvent(connection, 'leave', 'presence-lobby', 'bob');
      await events.once('leave');

      expect(events.log.filter((entry) => entry.event === 'join' || entry.event === 'leave')).toEqual([
        { event: 'join', value: { channel: 'presence-lobby', userId: 'bob' } },
        { event: 'leave', value: { channel: 'presence-lobby', userId: 'bob' } },
      ]);
    });

    it('after a reconnect, asks members for each restored presence channel it knows, and emits the answers', async () => {
      const { client, events } = createClient();
      await client.connect();
      const first = await server.connection(0);
      answerMembers(first);
      await client.subscribe(['presence-lobby', 'presence-ops', 'booking-updates']);
      await client.members('presence-lobby');
      // Known through a join only: the app never asked.
      memberEvent(first, 'join', 'presence-ops', 'bob');
      await events.once('join');

      const healed = events.next('members', (answer) => answer.channel === 'presence-ops');
      first.drop();
      const second = await server.connection(1);
      answerMembers(second);
      await healed;
      await events.once('members', (answer) => answer.channel === 'presence-ops');

      const asked = second.received.filter((frame) => frame.type === 'members').map((frame) => frame.payload.channel);
      expect(asked.sort()).toEqual(['presence-lobby', 'presence-ops']);
      expect(
        events
          .of('members')
          .map((answer) => answer.channel)
          .sort(),
      ).toEqual(['presence-lobby', 'presence-lobby', 'presence-ops']);
    });

    it('ignores a FORBIDDEN answer to its own members request quietly and stops asking for that channel', async () => {
      const { client, events } = createClient();
      await client.connect();
      const first = await server.connection(0);
      await client.subscribe(['presence-lobby']);
      // Known as a presence channel through a join; the server now refuses `members` for it
      // (the fake's default answer to `members` is FORBIDDEN).
      memberEvent(first, 'join', 'presence-lobby', 'bob');
      await events.once('join');

      first.drop();
      const second = await server.connection(1);
      await second.nextRequest((frame) => frame.type === 'members');
      // A request after the refused one, answered in order: the refusal was handled by then.
      await client.presence(['bob']);
      second.drop();
      const third = await server.connection(2);
      await events.once('recovered', () => client.connectionId === third.id);
      await client.presence(['bob']);

      expect(events.of('error').filter((error) => error.code === 'FORBIDDEN')).toEqual([]);
      expect(events.of('members')).toEqual([]);
      expect(third.received.filter((frame) => frame.type === 'members')).toEqual([]);
    });

    it('sends members again on the next connection when its own dropped before the answer', async () => {
      const { client } = createClient();
      await client.connect();
      const first = await server.connection(0);
      await client.subscribe(['presence-lobby']);
      first.unanswered.add('members');

      const pending = client.members('presence-lobby');
      await first.nextRequest((frame) => frame.type === 'members');
      first.drop();
      const second = await server.connection(1);
      answerMembers(second);

      expect(await pending).toMatchObject({ channel: 'presence-lobby', count: 2 });
    });

    it('asks members on the renewed connection too, before the old one closes', async () => {
      const { client, events } = createClient({ renewAfterMs: 300 });
      await client.connect();
      const first = await server.connection(0);
      answerMembers(first);
      await client.subscribe(['presence-lobby']);
      await client.members('presence-lobby');

      const renewed = await server.connection(1);
      answerMembers(renewed);
      await renewed.nextRequest((frame) => frame.type === 'members');
      await events.once('members', () => events.of('members').length === 2);

      expect(renewed.received.find((frame) => frame.type === 'members')?.payload).toEqual({ channel: 'presence-lobby' });
      expect(events.states()).toEqual(['connecting', 'open']);
    });

    it('refuses a malformed channel name before sending it', async () => {
      const { client } = createClient();
      await client.connect();
      const connection = await server.connection(0);

      await expect(client.members('')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(client.members('no spaces allowed')).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(client.members('x'.repeat(300))).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await client.presence(['bob']);

      expect(connection.received.filter((frame) => frame.type === 'members')).toEqual([]);
    });
  });

  describe('inbox and unread', () => {
    it('sends inbox options and markRead as the protocol has them', async () => {
      const { client } = createClient();
      await client.connect();
      const connection = await server.connection(0);
      connection.unanswered.add('inbox');
      connection.unanswered.add('markRead');
      const id = randomUUID();

      void client.inbox({ limit: 5, before: 'abc_DEF-1', unreadOnly: true }).catch(() => {});
      void client.inbox().catch(() => {});
      void client.markRead([id]).catch(() => {});
      void client.markRead('all').catch(() => {});
      await connection.nextRequest((frame) => frame.type === 'markRead' && 'all' in frame.payload);

      expect(
        connection.received.filter((frame) => frame.type === 'inbox' || frame.type === 'markRead').map(({ type, payload }) => ({ type, payload })),
      ).toEqual([
        { type: 'inbox', payload: { limit: 5, before: 'abc_DEF-1', unreadOnly: true } },
        { type: 'inbox', payload: { limit: 20, unreadOnly: false } },
        { type: 'markRead', payload: { messageIds: [id] } },
        { type: 'markRead', payload: { all: true } },
      ]);
    });

    it('refuses bad inbox and markRead arguments before sending anything', async () => {
      const { client } = createClient();
      await client.connect();
      const connection = await server.connection(0);

      const refused = [
        client.inbox({ limit: 0 }),
        client.inbox({ limit: 101 }),
        client.inbox({ limit: 1.5 }),
        client.inbox({ before: 'not a cursor!' }),
        client.markRead([]),
        client.markRead(['not-a-uuid']),
        client.markRead(Array.from({ length: 101 }, () => randomUUID())),
        client.markRead('some' as 'all'),
      ];
      for (const promise of refused) await expect(promise).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await client.presence(['bob']);

      expect(connection.received.map((frame) => frame.type)).toEqual(['presence']);
    });

    it('emits unread when the count changes: inboxState, new notifications to the user, not others, not duplicates', async () => {
      const { client, events } = createClient();
      await client.connect();
      const connection = await server.connection(0);
      expect(client.unreadCount).toBeUndefined();

      connection.send({ type: 'inboxState', payload: { unreadCount: 2, read: [] } });
      await events.once('unread');
      const mine = targetedNotification('alice');
      connection.send(mine);
      connection.send(mine);
      // A channel notification is no inbox item.
      server.publish('system-announcements');
      connection.send({ type: 'inboxState', payload: { unreadCount: 3, read: [] } });
      connection.send({ type: 'inboxState', payload: { unreadCount: 0, read: [randomUUID()] } });
      await events.once('unread', (value) => value.count === 0);

      expect(events.of('unread')).toEqual([{ count: 2 }, { count: 3 }, { count: 0 }]);
      expect(events.of('notification')).toHaveLength(2);
      expect(client.unreadCount).toBe(0);
    });

    it('counts notifications to the user one by one again after a recovery that got no answer (a server without positions)', async () => {
      // Without positions, replayed and live notifications cannot be told apart while `recover { since }` runs.
      await server.stop();
      server = await FakeNotificationServer.start({ positions: false });
      // requestTimeoutMs 100: recover times out after 400 ms.
      const { client, events } = createClient({ requestTimeoutMs: 100 });
      await client.connect();
      (await server.connection(0)).drop();
      const second = await server.connection(1);
      second.unanswered.add('recover');
      second.send({ type: 'inboxState', payload: { unreadCount: 1, read: [] } });
      await second.nextRequest((frame) => frame.type === 'recover');
      await events.once('error', (error) => error.code === 'TIMEOUT');

      second.send(targetedNotification('alice'));
      await events.once('unread', (value) => value.count === 2);

      expect(client.unreadCount).toBe(2);
    });

    it('takes the count from an inbox answer and a markRead answer', async () => {
      const { client, events } = createClient();
      await client.connect();
      const connection = await server.connection(0);
      connection.unanswered.add('inbox');
      connection.unanswered.add('markRead');

      const page = client.inbox();
      connection.reply(await connection.nextRequest((frame) => frame.type === 'inbox'), 'inbox', { items: [], unreadCount: 4 });
      await page;
      const state = client.markRead('all');
      connection.reply(await connection.nextRequest((frame) => frame.type === 'markRead'), 'inboxState', { unreadCount: 0, read: [] });
      await state;

      expect(events.of('unread')).toEqual([{ count: 4 }, { count: 0 }]);
    });
  });
});
