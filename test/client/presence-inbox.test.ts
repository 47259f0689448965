import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotificationClient, type NotificationClientOptions } from '../../client/index.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken } from '../support/ws-client.js';
import { ClientEvents, step } from './client-events.js';

/** A getToken that mints real tokens and can hold its next call back until released. */
function gatedTokens(userId: string) {
  let held: { reached: () => void; gate: Promise<void> } | undefined;
  return {
    /** The next call waits until `release()`; `reached` resolves when it is made. */
    holdNext(): { reached: Promise<void>; release: () => void } {
      let release!: () => void;
      let reached!: () => void;
      const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      held = { reached, gate: new Promise<void>((resolve) => (release = resolve)) };
      return { reached: reachedPromise, release };
    },
    getToken: async () => {
      const entry = held;
      held = undefined;
      if (entry) {
        entry.reached();
        await entry.gate;
      }
      return mintToken(userId);
    },
  };
}

/**
 * The SDK's presence-channel and inbox API (protocol sections 9 and 10) against the
 * local runtime: the real handlers, DynamoDB Local, real sockets.
 */
describe('NotificationClient presence channels and inbox against the local runtime', () => {
  let runtime: TestRuntime;
  const clients: NotificationClient[] = [];
  const createClient = (options: Partial<NotificationClientOptions> & { getToken: () => Promise<string> }) => {
    const client = new NotificationClient({ url: runtime.wsUrl, reconnect: { initialDelayMs: 50, maxDelayMs: 200 }, ...options });
    clients.push(client);
    return { client, events: new ClientEvents(client) };
  };
  const userClient = (userId: string) => createClient({ getToken: () => mintToken(userId) });

  beforeAll(async () => {
    runtime = await startTestRuntime({
      channels: { access: { 'presence-*': ['*'], 'booking-updates': ['*'] }, presence: ['presence-*'] },
      kafka: { topics: ['booking-updates'] },
    });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  afterAll(async () => {
    await runtime?.stop();
  });

  describe('presence channels', () => {
    it("two users in presence-lobby see each other in members, and each other's join and leave", async () => {
      // Prepare
      const alice = userClient('pl-alice');
      await alice.client.connect();
      await alice.client.subscribe(['presence-lobby']);
      const bob = userClient('pl-bob');
      await bob.client.connect();

      // Act
      const joined = alice.events.next('join');
      await bob.client.subscribe(['presence-lobby']);
      const join = await step(alice.events, "bob's join", joined);
      const seenByAlice = await alice.client.members('presence-lobby');
      const seenByBob = await bob.client.members('presence-lobby');
      const left = alice.events.next('leave');
      await bob.client.close();
      const leave = await step(alice.events, "bob's leave", left);

      // Assess
      expect(join).toEqual({ channel: 'presence-lobby', userId: 'pl-bob' });
      expect(leave).toEqual({ channel: 'presence-lobby', userId: 'pl-bob' });
      expect(seenByAlice).toMatchObject({ channel: 'presence-lobby', count: 2, truncated: false });
      expect(Object.keys(seenByAlice.members).sort()).toEqual(['pl-alice', 'pl-bob']);
      expect(seenByBob.members).toEqual(seenByAlice.members);
      expect(alice.events.of('members')).toEqual([seenByAlice]);
      // A user is not told of their own join.
      expect(bob.events.of('join')).toEqual([]);
    });

    it('after a server-side close, asks members again and emits it with who joined meanwhile', async () => {
      // Prepare: dora holds presence-lobby and knows it as a presence channel.
      const tokens = gatedTokens('rc-dora');
      const dora = createClient({ getToken: tokens.getToken });
      const welcome = await dora.client.connect();
      await dora.client.subscribe(['presence-lobby']);
      await dora.client.members('presence-lobby');

      // Act: dora's connection is deleted; erin joins while dora has none.
      const reconnect = tokens.holdNext();
      const deleted = await fetch(`${runtime.httpUrl}/@connections/${encodeURIComponent(welcome.connectionId)}`, { method: 'DELETE' });
      await step(dora.events, 'the reconnect to ask for a token', reconnect.reached);
      const erin = userClient('rc-erin');
      await erin.client.connect();
      await erin.client.subscribe(['presence-lobby']);
      const healed = dora.events.next('members');
      reconnect.release();
      const answer = await step(dora.events, 'the members asked after the reconnect', healed);

      // Assess: the join dora missed is in the list she got without asking.
      expect(deleted.status).toBe(204);
      expect(dora.events.of('join')).toEqual([]);
      expect(answer).toMatchObject({ channel: 'presence-lobby', count: 2 });
      expect(Object.keys(answer.members).sort()).toEqual(['rc-dora', 'rc-erin']);
      expect(dora.client.connectionId).not.toBe(welcome.connectionId);
      expect(dora.events.of('error')).toEqual([]);
    });

    it('rejects members for a channel that is not a presence channel with FORBIDDEN', async () => {
      const { client } = userClient('pl-fred');
      await client.connect();
      await client.subscribe(['booking-updates']);

      await expect(client.members('booking-updates')).rejects.toMatchObject({ code: 'FORBIDDEN' });
      await expect(client.members('presence-elsewhere')).rejects.toMatchObject({ code: 'FORBIDDEN' });
    });
  });

  describe('inbox', () => {
    it("three sent while offline: unread 3, inbox lists them, a read in one client drops the other's unread to 2, all to 0", async () => {
      // Prepare: three notifications to ines while she has no connection.
      const sent = [1, 2, 3].map(() => notificationRecord({ targetUserId: 'ib-ines' }));
      expect((await runtime.publish('booking-updates', sent)).status).toBe(200);
      const phone = userClient('ib-ines');
      const laptop = userClient('ib-ines');

      // Act
      const welcome = await phone.client.connect();
      await laptop.client.connect();
      const page = await phone.client.inbox({ limit: 10 });
      const dropped = laptop.events.next('unread');
      const state = await phone.client.markRead([page.items[0]!.messageId]);
      const laptopAfterOne = await step(laptop.events, "the laptop's unread after one read", dropped);
      const cleared = laptop.events.next('unread');
      const all = await phone.client.markRead('all');
      const laptopAfterAll = await step(laptop.events, "the laptop's unread after all read", cleared);

      // Assess
      expect(welcome.unreadCount).toBe(3);
      expect(phone.events.of('unread')[0]).toEqual({ count: 3 });
      expect(page.unreadCount).toBe(3);
      expect(page.items.map((item) => item.notification.notificationId).sort()).toEqual(sent.map((record) => record.payload.notificationId).sort());
      expect(page.items.every((item) => !item.read)).toBe(true);
      expect(state).toEqual({ unreadCount: 2, read: [page.items[0]!.messageId] });
      expect(laptopAfterOne).toEqual({ count: 2 });
      expect(all.unreadCount).toBe(0);
      expect(all.read.sort()).toEqual(
        page.items
          .slice(1)
          .map((item) => item.messageId)
          .sort(),
      );
      expect(laptopAfterAll).toEqual({ count: 0 });
      expect(phone.events.of('unread')).toEqual([{ count: 3 }, { count: 2 }, { count: 0 }]);
      expect(laptop.client.unreadCount).toBe(0);
      expect((await laptop.client.inbox({ unreadOnly: true })).items).toEqual([]);
    });

    it('counts a notification to the user arriving live, once, on every client of the user', async () => {
      const phone = userClient('ib-jo');
      const laptop = userClient('ib-jo');
      await phone.client.connect();
      await laptop.client.connect();

      const onPhone = phone.events.next('unread');
      const onLaptop = laptop.events.next('unread');
      await runtime.publish('booking-updates', notificationRecord({ targetUserId: 'ib-jo' }));
      await runtime.publish('booking-updates', notificationRecord({ channel: 'booking-updates' }));

      expect(await step(phone.events, "the phone's unread", onPhone)).toEqual({ count: 1 });
      expect(await step(laptop.events, "the laptop's unread", onLaptop)).toEqual({ count: 1 });
      expect((await phone.client.inbox()).unreadCount).toBe(1);
      expect(phone.events.of('unread')).toEqual([{ count: 0 }, { count: 1 }]);
    });

    it('after a server-side close, does not count twice the notifications to the user that recovery replays', async () => {
      // Prepare
      const tokens = gatedTokens('ib-lea');
      const { client, events } = createClient({ getToken: tokens.getToken });
      const welcome = await client.connect();

      // Act: two notifications to lea while she has no connection; welcome counts them,
      // and recovery replays them too.
      const reconnect = tokens.holdNext();
      await fetch(`${runtime.httpUrl}/@connections/${encodeURIComponent(welcome.connectionId)}`, { method: 'DELETE' });
      await step(events, 'the reconnect to ask for a token', reconnect.reached);
      await runtime.publish('booking-updates', [notificationRecord({ targetUserId: 'ib-lea' }), notificationRecord({ targetUserId: 'ib-lea' })]);
      const recovered = events.next('recovered');
      reconnect.release();
      await step(events, 'recovery', recovered);
      // An answer after the count's resync: requests are answered in order.
      const inbox = await client.inbox();

      // Assess
      expect(events.of('notification')).toHaveLength(2);
      expect(inbox.unreadCount).toBe(2);
      expect(events.of('unread')).toEqual([{ count: 0 }, { count: 2 }]);
      expect(client.unreadCount).toBe(2);
    });

    it('refuses bad arguments with INVALID_ARGUMENT, and the server state stays as it was', async () => {
      await runtime.publish('booking-updates', notificationRecord({ targetUserId: 'ib-kim' }));
      const { client } = userClient('ib-kim');
      await client.connect();

      for (const refused of [
        client.inbox({ limit: 0 }),
        client.inbox({ limit: 101 }),
        client.inbox({ before: '%%%' }),
        client.markRead([]),
        client.markRead(['not-a-uuid']),
      ]) {
        await expect(refused).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      }

      expect((await client.inbox()).unreadCount).toBe(1);
      expect(client.unreadCount).toBe(1);
    });
  });
});
