import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotificationClient, NotificationClientError, type NotificationClientOptions } from '../../client/index.js';
import { ClientEvents } from './client-events.js';
import { EPOCH, FakeNotificationServer } from './fake-server.js';

/** The SDK against a fake server speaking the protocol over real sockets on loopback. */
describe('NotificationClient', () => {
  let server: FakeNotificationServer;
  const clients: NotificationClient[] = [];
  const fastRetries = { initialDelayMs: 10, maxDelayMs: 50 };

  const createClient = (options: Partial<NotificationClientOptions> = {}) => {
    const client = new NotificationClient({ url: server.url, token: 'alice:static', reconnect: fastRetries, ...options } as NotificationClientOptions);
    clients.push(client);
    return { client, events: new ClientEvents(client) };
  };

  /** A getToken that hands out numbered tokens and records each call. */
  const tokenSource = (userId = 'alice') => {
    const calls: string[] = [];
    const getToken = async () => {
      const token = `${userId}:${calls.length + 1}`;
      calls.push(token);
      return token;
    };
    return { calls, getToken };
  };

  beforeEach(async () => {
    server = await FakeNotificationServer.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.stop();
  });

  describe('constructor', () => {
    it('refuses a URL that is not ws:// or wss://', () => {
      expect(() => new NotificationClient({ url: 'http://127.0.0.1:8080', token: 't' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    });

    it('wants exactly one of token and getToken', () => {
      expect(() => new NotificationClient({ url: 'ws://127.0.0.1:8080', token: 't', getToken: () => 't' })).toThrow(
        expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
      );
      expect(() => new NotificationClient({ url: 'ws://127.0.0.1:8080' })).toThrow(NotificationClientError);
    });
  });

  describe('connect', () => {
    it('resolves with the welcome payload after sending the token in ?token=', async () => {
      const { client, events } = createClient();

      const welcome = await client.connect();

      const connection = await server.connection(0);
      expect(welcome).toMatchObject({ connectionId: connection.id, userId: 'alice', channels: ['system-announcements', 'user-alice'] });
      expect(server.tokens).toEqual(['alice:static']);
      expect(events.states()).toEqual(['connecting', 'open']);
      expect(client.connectionId).toBe(connection.id);
      expect(client.channels).toEqual(['system-announcements', 'user-alice']);
    });

    it('rejects with AUTH_REJECTED when a fixed token is refused with 401', async () => {
      server.refusals.push(401);
      const { client, events } = createClient();

      await expect(client.connect()).rejects.toMatchObject({ code: 'AUTH_REJECTED', details: { status: 401 } });

      expect(events.states()).toEqual(['connecting', 'closed']);
      expect(server.tokens).toHaveLength(1);
    });

    it('asks getToken again after a 401 and connects with the fresh token', async () => {
      server.refusals.push(401);
      const tokens = tokenSource();
      const { client } = createClient({ token: undefined, getToken: tokens.getToken });

      await client.connect();

      expect(server.tokens).toEqual(['alice:1', 'alice:2']);
      expect((await server.connection(0)).token).toBe('alice:2');
    });

    it('gives up when the fresh token is refused too', async () => {
      server.refusals.push(403, 403);
      const tokens = tokenSource();
      const { client } = createClient({ token: undefined, getToken: tokens.getToken });

      await expect(client.connect()).rejects.toMatchObject({ code: 'AUTH_REJECTED', details: { status: 403 } });
      expect(client.state).toBe('closed');
    });

    it('rejects with TOKEN_FAILED when getToken throws', async () => {
      const { client } = createClient({ token: undefined, getToken: () => Promise.reject(new Error('logged out')) });

      await expect(client.connect()).rejects.toMatchObject({ code: 'TOKEN_FAILED' });
    });

    it('backs off and tries again while the server answers 429 (over the per-user limit)', async () => {
      server.refusals.push(429, 429);
      const { client, events } = createClient();

      await client.connect();

      expect(server.tokens).toHaveLength(3);
      expect(events.of('error').map((error) => [error.code, error.details.status])).toEqual([
        ['HANDSHAKE_FAILED', 429],
        ['HANDSHAKE_FAILED', 429],
      ]);
    });
  });

  describe('requests', () => {
    it('matches each answer to its request by replyTo', async () => {
      const { client } = createClient();
      await client.connect();

      const [first, second] = await Promise.all([client.subscribe(['booking-updates']), client.subscribe(['waitlist-notifications'])]);

      expect(first.accepted).toEqual(['booking-updates']);
      expect(second.accepted).toEqual(['waitlist-notifications']);
      expect(client.channels).toEqual(expect.arrayContaining(['booking-updates', 'waitlist-notifications']));
    });

    it('resolves with the refused channels in the answer', async () => {
      const { client } = createClient();
      await client.connect();

      const answer = await client.subscribe(['private-x']);

      expect(answer.rejected).toEqual([{ channel: 'private-x', code: 'FORBIDDEN', reason: 'not allowed' }]);
      expect(client.channels).not.toContain('private-x');
    });

    it('rejects with the code of the error frame that answers it', async () => {
      const { client } = createClient();
      await client.connect();

      await expect(client.stats()).rejects.toMatchObject({ code: 'FORBIDDEN', details: { request: 'stats' } });
      expect(client.state).toBe('open');
    });

    it('answers presence', async () => {
      const { client } = createClient();
      await client.connect();

      const presence = await client.presence(['alice', 'bob']);

      expect(presence.users).toEqual({ alice: { online: true, connections: 1 }, bob: { online: false, connections: 0 } });
    });

    it('refuses a malformed request before sending it', async () => {
      const { client } = createClient();
      await client.connect();

      await expect(client.subscribe([])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      await expect(client.presence(['not a user id'])).rejects.toMatchObject({ code: 'INVALID_ARGUMENT' });
      expect((await server.connection(0)).received).toEqual([]);
    });

    it('refuses requests before connect()', async () => {
      const { client } = createClient();

      await expect(client.subscribe(['booking-updates'])).rejects.toMatchObject({ code: 'NOT_CONNECTED' });
    });

    it('reports a frame that is not the protocol and stays open', async () => {
      const { client, events } = createClient();
      await client.connect();
      const connection = await server.connection(0);

      connection.socket.send(JSON.stringify({ message: 'Internal server error', connectionId: connection.id, requestId: 'r-1' }));
      const error = await events.next('error');

      expect(error.code).toBe('INVALID_FRAME');
      expect((await client.subscribe(['booking-updates'])).accepted).toEqual(['booking-updates']);
    });

    it('sends a request again on the next connection when its own dropped before the answer', async () => {
      const { client } = createClient();
      await client.connect();
      const first = await server.connection(0);
      first.unanswered.add('subscribe');

      const answer = client.subscribe(['booking-updates']);
      await first.nextRequest((frame) => frame.type === 'subscribe');
      first.drop();

      expect((await answer).accepted).toEqual(['booking-updates']);
      const second = await server.connection(1);
      expect(second.received.filter((frame) => frame.type === 'subscribe')).toHaveLength(1);
    });
  });

  describe('staying connected', () => {
    it('sends heartbeats at the interval welcome gives', async () => {
      await server.stop();
      server = await FakeNotificationServer.start({ heartbeatIntervalSeconds: 1 });
      const { client } = createClient();
      await client.connect();
      const connection = await server.connection(0);

      await connection.nextRequest((frame) => frame.type === 'heartbeat');
      await connection.nextRequest((frame) => frame.type === 'heartbeat' && connection.received.filter((f) => f.type === 'heartbeat').length >= 2);

      expect(client.state).toBe('open');
    });

    it('reconnects when a heartbeat goes unanswered', async () => {
      const { client, events } = createClient({ heartbeatIntervalMs: 50, heartbeatTimeoutMs: 200 });
      await client.connect();
      const first = await server.connection(0);
      first.silent = true;

      const second = await server.connection(1);
      await events.next('state', (change) => change.state === 'open');

      expect(await first.closed()).toBe(4000);
      expect(events.of('error').map((error) => error.code)).toContain('HEARTBEAT_TIMEOUT');
      expect(client.connectionId).toBe(second.id);
    });

    it('after a drop, reconnects with a fresh token, resubscribes and recovers what it missed, once', async () => {
      let releaseToken!: () => void;
      const tokenRequested: (() => void)[] = [];
      let calls = 0;
      const getToken = async () => {
        calls += 1;
        if (calls === 2) {
          tokenRequested.shift()?.();
          await new Promise<void>((resolve) => (releaseToken = resolve));
        }
        return `alice:${calls}`;
      };
      const { client, events } = createClient({ token: undefined, getToken });
      await client.connect();
      await client.subscribe(['booking-updates']);
      const first = await server.connection(0);
      const seenLive = server.publish('booking-updates', 'before');
      await events.next('notification');

      const reconnecting = new Promise<void>((resolve) => tokenRequested.push(resolve));
      first.drop();
      await reconnecting;
      // Published while no connection is open: only recover can bring it.
      const missed = server.publish('booking-updates', 'while away');
      releaseToken();
      const second = await server.connection(1);
      const recovered = await events.next('recovered');
      // The same message again, as a replay overlapping live delivery would bring it.
      second.socket.send(JSON.stringify(missed));
      const after = server.publish('booking-updates', 'after');
      await events.next('notification', (frame) => frame.messageId === after.messageId);

      expect(second.token).toBe('alice:2');
      expect(second.received[0]).toMatchObject({ type: 'subscribe', payload: { channels: ['booking-updates'] } });
      // The restored channel was not in the welcome's heads: it is asked from where it stood.
      expect(second.received[1]).toMatchObject({ type: 'recover', payload: { streams: { 'channel#booking-updates': { epoch: EPOCH, offset: 1 } } } });
      expect(recovered).toEqual({ count: 1, complete: true, streams: { 'channel#booking-updates': { epoch: EPOCH, offset: 2 } } });
      expect(events.notificationIds()).toEqual([seenLive.messageId, missed.messageId, after.messageId]);
      expect(events.states()).toEqual(['connecting', 'open', 'reconnecting', 'open']);
      expect(events.of('state')[2]!.error).toMatchObject({ code: 'CONNECTION_LOST', details: { code: 1001 } });
    });

    it('recovers a notification still in flight at the drop, on a channel it restored', async () => {
      const { client, events } = createClient();
      await client.connect();
      await client.subscribe(['booking-updates']);
      const seen = server.publish('booking-updates', 'seen live');
      await events.next('notification', (frame) => frame.messageId === seen.messageId);
      // Accepted, but its post had not reached this connection when the socket dropped.
      const inFlight = server.publish('booking-updates', 'still in flight', []);

      (await server.connection(0)).drop();
      await server.connection(1);
      await events.next('recovered');

      expect(events.notificationIds()).toEqual([seen.messageId, inFlight.messageId]);
    });

    it('holds a newer notification until an older one still in flight is recovered, then shows both in order', async () => {
      const { client, events } = createClient();
      await client.connect();
      // Accepted first (offset 1), but its post is late; the next one (offset 2) arrives first.
      const inFlight = server.publish('user-alice', 'accepted first, still in flight', []);
      const newest = server.publish('user-alice', 'accepted second, arrives first');
      await events.next('notification', (frame) => frame.messageId === newest.messageId);

      expect(events.notificationIds()).toEqual([inFlight.messageId, newest.messageId]);
    });

    it("recovers from the first welcome's heads when it saw no notification yet", async () => {
      const { client, events } = createClient();
      await client.connect();

      // Nobody receives it live: only the next welcome's heads show it.
      const missed = server.publish('user-alice', 'lost on its way', []);
      (await server.connection(0)).drop();
      const second = await server.connection(1);
      await events.next('recovered');

      expect(second.received.find((frame) => frame.type === 'recover')?.payload).toEqual({ streams: { 'user#alice': { epoch: EPOCH, offset: 0 } } });
      expect(events.notificationIds()).toEqual([missed.messageId]);
    });

    it('emits recovered with count 0 after a reconnect that missed nothing, without asking', async () => {
      const { client, events } = createClient();
      await client.connect();

      (await server.connection(0)).drop();
      const second = await server.connection(1);
      const recovered = await events.next('recovered');

      expect(recovered).toEqual({ count: 0, complete: true, streams: {} });
      expect(second.received.filter((frame) => frame.type === 'recover')).toEqual([]);
    });

    it('keeps an automatic channel it left unsubscribed after a reconnect', async () => {
      const { client, events } = createClient();
      await client.connect();
      await client.unsubscribe(['system-announcements']);

      (await server.connection(0)).drop();
      const second = await server.connection(1);
      await events.next('recovered');

      expect(second.received[0]).toMatchObject({ type: 'unsubscribe', payload: { channels: ['system-announcements'] } });
      expect(client.channels).toEqual(['user-alice']);
    });

    it('sends requests made while reconnecting once the new connection is open', async () => {
      const { client, events } = createClient({ reconnect: { initialDelayMs: 200, maxDelayMs: 200 }, random: () => 1 });
      await client.connect();

      (await server.connection(0)).drop();
      await events.next('state', (change) => change.state === 'reconnecting');
      const answer = await client.presence(['alice']);

      expect(answer.users.alice).toMatchObject({ online: true });
      expect((await server.connection(1)).received.some((frame) => frame.type === 'presence')).toBe(true);
    });

    it('renews its connection before the cap, overlapping old and new, without a duplicate', async () => {
      const { client, events } = createClient({ renewAfterMs: 300 });
      await client.connect();
      const first = await server.connection(0);

      const second = await server.connection(1);
      // Both connections are open now: the server delivers to each.
      const overlapping = server.publish('user-alice', 'during renewal', [first, second]);
      const closeCode = await first.closed();
      await events.next('recovered');

      expect(closeCode).toBe(1000);
      expect(events.notificationIds().filter((id) => id === overlapping.messageId)).toHaveLength(1);
      expect(events.states()).toEqual(['connecting', 'open']);
      expect(
        events
          .of('welcome')
          .map((welcome) => welcome.connectionId)
          .slice(0, 2),
      ).toEqual([first.id, second.id]);
    });

    it('gives up its connection when the browser goes offline and reconnects when it is back online', async () => {
      const network = new EventTarget();
      const tokens = tokenSource();
      const order: string[] = [];
      const { client, events } = createClient({
        token: undefined,
        getToken: () => {
          order.push('token');
          return tokens.getToken();
        },
        networkEvents: network,
      });
      await client.connect();
      const first = await server.connection(0);

      const stateChange = events.next('state');
      order.push('offline');
      network.dispatchEvent(new Event('offline'));
      const lost = await stateChange;
      await new Promise((resolve) => setTimeout(resolve, 50));
      order.push('online');
      network.dispatchEvent(new Event('online'));
      const second = await server.connection(1);
      await events.next('state', (change) => change.state === 'open');

      expect(lost.state).toBe('reconnecting');
      expect(await first.closed()).toBe(4001);
      expect(order).toEqual(['token', 'offline', 'online', 'token']);
      expect(client.connectionId).toBe(second.id);
    });

    it('ends its connection at once and reconnects when the server says it no longer holds it (NOT_REGISTERED)', async () => {
      const { client, events } = createClient();
      await client.connect();
      const first = await server.connection(0);
      first.unanswered.add('presence');

      const answer = client.presence(['bob']);
      first.reply(await first.nextRequest((frame) => frame.type === 'presence'), 'error', {
        code: 'NOT_REGISTERED',
        message: 'this connection is not registered',
      });
      const second = await server.connection(1);

      // The request made by the application is sent again on the next connection.
      expect((await answer).users.bob).toMatchObject({ online: false });
      expect(second.received.some((frame) => frame.type === 'presence')).toBe(true);
      expect(await first.closed()).toBe(4002);
      expect(events.of('state')[2]).toMatchObject({ state: 'reconnecting', error: { code: 'CONNECTION_LOST', details: { code: 4002 } } });
    });

    it('ends its connection at once and reconnects on disconnect `unregistered`', async () => {
      const { client, events } = createClient();
      await client.connect();
      const first = await server.connection(0);

      // The server's close is not even needed: the client gives the connection up itself.
      first.send({ type: 'disconnect', payload: { reason: 'unregistered', reconnect: true } });
      const second = await server.connection(1);
      await events.next('state', (change) => change.state === 'open');

      expect(events.of('disconnected')).toEqual([{ reason: 'unregistered', reconnect: true }]);
      expect(await first.closed()).toBe(4002);
      expect(client.connectionId).toBe(second.id);
    });

    it('close() ends it for good and rejects what is pending with CLOSED', async () => {
      const { client, events } = createClient();
      await client.connect();
      const connection = await server.connection(0);
      connection.unanswered.add('presence');

      const pending = client.presence(['bob']);
      await connection.nextRequest((frame) => frame.type === 'presence');
      await client.close();

      await expect(pending).rejects.toMatchObject({ code: 'CLOSED' });
      expect(await connection.closed()).toBe(1000);
      expect(events.states()).toEqual(['connecting', 'open', 'closed']);
      await expect(client.connect()).rejects.toMatchObject({ code: 'CLOSED' });
    });
  });

  /** A server from before stream positions: welcome without heads, frames without positions, `recover { since }`. */
  describe('with a server without positions', () => {
    beforeEach(async () => {
      await server.stop();
      server = await FakeNotificationServer.start({ positions: false });
    });

    it('after a drop, recovers since a minute before the newest notification seen, once', async () => {
      const { client, events } = createClient();
      await client.connect();
      await client.subscribe(['booking-updates']);
      const first = await server.connection(0);
      const seenLive = server.publish('booking-updates', 'before');
      await events.next('notification');

      // Lost on its way to this connection: only recover can bring it.
      const missed = server.publish('booking-updates', 'missed', []);
      first.drop();
      const second = await server.connection(1);
      const recovered = await events.next('recovered');
      // The same message again, as a replay overlapping live delivery would bring it.
      second.socket.send(JSON.stringify(missed));
      const after = server.publish('booking-updates', 'after');
      await events.next('notification', (frame) => frame.messageId === after.messageId);

      // From a minute before the newest notification seen: what was in flight is not missed.
      const since = new Date(Date.parse(seenLive.timestamp) - 60_000).toISOString();
      expect(second.received[1]).toMatchObject({ type: 'recover', payload: { since } });
      expect(recovered).toEqual({ count: 2, complete: true, streams: {}, since });
      expect(events.notificationIds()).toEqual([seenLive.messageId, missed.messageId, after.messageId]);
    });

    it('recovers a notification accepted before the newest one seen but still in flight at the drop', async () => {
      const { client, events } = createClient();
      await client.connect();
      await client.subscribe(['booking-updates']);
      // Accepted first, but its post had not reached this connection when the socket dropped.
      const inFlight = server.publish('booking-updates', 'accepted first, still in flight', []);
      // A later acceptance time for the newest one, as the service would stamp it.
      await new Promise((resolve) => setTimeout(resolve, 5));
      const newest = server.publish('booking-updates', 'accepted second, seen live');
      await events.next('notification', (frame) => frame.messageId === newest.messageId);

      (await server.connection(0)).drop();
      await server.connection(1);
      await events.next('recovered');

      expect(events.notificationIds()).toEqual([newest.messageId, inFlight.messageId]);
    });

    it('recovers from the first welcome time when it saw no notification yet', async () => {
      const { client, events } = createClient();
      const welcome = await client.connect();

      (await server.connection(0)).drop();
      const second = await server.connection(1);
      await events.next('recovered');

      expect(second.received.find((frame) => frame.type === 'recover')?.payload).toEqual({ since: welcome.serverTime });
    });
  });
});
