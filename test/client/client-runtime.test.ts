import { decodeJwt } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotificationClient, type NotificationClientOptions } from '../../client/index.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken } from '../support/ws-client.js';
import { ClientEvents, step } from './client-events.js';

/**
 * A getToken that mints real tokens and can hold its next call back: the test publishes
 * while the client is between connections, then lets it go on.
 */
function gatedTokens(userId: string) {
  let held: { reached: () => void; release?: () => void } | undefined;
  return {
    /** The next call waits until `release()`; `reached` resolves when it is made. */
    holdNext(): { reached: Promise<void>; release: () => void } {
      let reached!: () => void;
      const reachedPromise = new Promise<void>((resolve) => (reached = resolve));
      const entry: { reached: () => void; release?: () => void } = { reached };
      held = entry;
      return { reached: reachedPromise, release: () => entry.release?.() };
    },
    getToken: async () => {
      const entry = held;
      held = undefined;
      if (entry) {
        await new Promise<void>((resolve) => {
          entry.release = resolve;
          entry.reached();
        });
      }
      return mintToken(userId);
    },
  };
}

const notificationIds = (events: ClientEvents) => events.of('notification').map((frame) => frame.payload.notificationId);

describe('NotificationClient against the local runtime', () => {
  const clients: NotificationClient[] = [];
  const createClient = (options: NotificationClientOptions) => {
    const client = new NotificationClient(options);
    clients.push(client);
    return { client, events: new ClientEvents(client) };
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  describe('forced disconnect', () => {
    let runtime: TestRuntime;

    beforeAll(async () => {
      runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } });
    });

    afterAll(async () => {
      await runtime?.stop();
    });

    it('after DELETE @connections/{id}, reconnects and recovers what was published meanwhile, nothing twice', async () => {
      const tokens = gatedTokens('carol');
      const { client, events } = createClient({ url: runtime.wsUrl, getToken: tokens.getToken, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
      const welcome = await client.connect();
      await client.subscribe(['booking-updates']);
      const live = [notificationRecord({ channel: 'booking-updates' }), notificationRecord({ targetUserId: 'carol' })];
      await runtime.publish('booking-updates', live);
      await step(
        events,
        'the live notifications',
        events.once('notification', (frame) => frame.payload.notificationId === live[1]!.payload.notificationId),
      );
      await events.once('notification', (frame) => frame.payload.notificationId === live[0]!.payload.notificationId);

      const reconnect = tokens.holdNext();
      const deleted = await fetch(`${runtime.httpUrl}/@connections/${encodeURIComponent(welcome.connectionId)}`, { method: 'DELETE' });
      await step(events, 'the reconnect to ask for a token', reconnect.reached);
      // Published while carol has no connection: only recover can bring these.
      const missed = [notificationRecord({ channel: 'booking-updates' }), notificationRecord({ targetUserId: 'carol' })];
      expect((await runtime.publish('booking-updates', missed)).status).toBe(200);
      const recovered = events.next('recovered');
      reconnect.release();
      const recovery = await step(events, 'recovery', recovered);
      const after = notificationRecord({ channel: 'booking-updates' });
      await runtime.publish('booking-updates', after);
      await step(
        events,
        'the notification published after',
        events.once('notification', (frame) => frame.payload.notificationId === after.payload.notificationId),
      );

      expect(deleted.status).toBe(204);
      expect(recovery).toMatchObject({ complete: true });
      const shown = notificationIds(events);
      const ids = (records: typeof live): string[] => records.map((record) => record.payload.notificationId);
      // Each once; in order within a stream. Across streams nothing is promised: the user
      // stream is recovered from the welcome's heads, the channel once it is restored.
      expect([...shown].sort()).toEqual(ids([...live, ...missed, after]).sort());
      expect(shown.filter((id) => ids([live[0]!, missed[0]!, after]).includes(id))).toEqual(ids([live[0]!, missed[0]!, after]));
      expect(shown.filter((id) => ids([live[1]!, missed[1]!]).includes(id))).toEqual(ids([live[1]!, missed[1]!]));
      expect(events.states()).toEqual(['connecting', 'open', 'reconnecting', 'open']);
      expect(client.connectionId).not.toBe(welcome.connectionId);
      expect(runtime.connectionIds()).toEqual([client.connectionId]);
      expect(client.channels).toContain('booking-updates');
    });
  });

  describe('renewal before the connection cap', () => {
    let runtime: TestRuntime;

    beforeAll(async () => {
      // The 2-hour cap, shortened: the runtime cuts every connection after 4 s.
      runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } }, { limits: { maxConnectionMs: 4_000 } });
    });

    afterAll(async () => {
      await runtime?.stop();
    });

    it('replaces its connection before the cap, overlapping the two, so nothing is missed or doubled', async () => {
      const tokens = gatedTokens('dave');
      const { client, events } = createClient({ url: runtime.wsUrl, getToken: tokens.getToken, renewAfterMs: 1_500 });
      const first = await client.connect();
      await client.subscribe(['booking-updates']);
      const before = notificationRecord({ channel: 'booking-updates' });
      await runtime.publish('booking-updates', before);
      await events.once('notification');

      // The renewal asks for a token while the first connection is still open.
      const renewal = tokens.holdNext();
      await step(events, 'the renewal to ask for a token', renewal.reached);
      const during = notificationRecord({ channel: 'booking-updates' });
      await runtime.publish('booking-updates', during);
      const secondWelcome = events.next('welcome');
      renewal.release();
      const second = await step(events, 'the renewed welcome', secondWelcome);
      await step(events, 'recovery on the renewed connection', events.next('recovered'));
      // Past the first connection's cap: only the renewed one can still deliver.
      const thirdWelcome = await step(events, 'the second renewal', events.next('welcome'));
      const after = notificationRecord({ targetUserId: 'dave' });
      await runtime.publish('booking-updates', after);
      await events.once('notification', (frame) => frame.payload.notificationId === after.payload.notificationId);

      expect(new Set([first.connectionId, second.connectionId, thirdWelcome.connectionId]).size).toBe(3);
      expect(runtime.connectionIds()).not.toContain(first.connectionId);
      expect(notificationIds(events)).toEqual([before, during, after].map((record) => record.payload.notificationId));
      // Never cut: each connection was replaced before the cap closed it.
      expect(events.states()).toEqual(['connecting', 'open']);
    });
  });

  describe('tokens that expire', () => {
    let runtime: TestRuntime;

    beforeAll(async () => {
      runtime = await startTestRuntime();
    });

    afterAll(async () => {
      await runtime?.stop();
    });

    const expiryOf = (token: string) => new Date((decodeJwt(token).exp as number) * 1000).toISOString();
    const until = (iso: string) => new Promise((resolve) => setTimeout(resolve, Math.max(0, Date.parse(iso) - Date.now() + 100)));

    it('refreshes its token through getToken before it expires, and cleanup after that expiry keeps the connection', async () => {
      const issued: string[] = [];
      const getToken = async () => {
        const token = await mintToken('frank', [], { expiresInSeconds: issued.length === 0 ? 3 : 600 });
        issued.push(token);
        return token;
      };
      const { client, events } = createClient({ url: runtime.wsUrl, getToken, refreshBeforeExpiryMs: 2_000 });
      const welcome = await client.connect();

      const refreshed = await step(events, 'the refresh', events.once('refreshed'));
      await until(expiryOf(issued[0]!));
      await runtime.runCleanup();

      expect(welcome.tokenExpiresAt).toBe(expiryOf(issued[0]!));
      expect(refreshed.expiresAt).toBe(expiryOf(issued[1]!));
      expect((await client.presence(['frank'])).users.frank).toMatchObject({ online: true, connections: 1 });
      expect(client.connectionId).toBe(welcome.connectionId);
      expect(events.states()).toEqual(['connecting', 'open']);
    });

    it('disconnected by cleanup with token-expired when it could not refresh, reconnects with a fresh token', async () => {
      let opened = false;
      let disconnected = false;
      const getToken = async () => {
        // While the first connection is open (its refresh), the token never comes: an
        // identity provider that is down until the connection has been closed.
        if (opened && !disconnected) return new Promise<string>(() => {});
        return mintToken('grace', [], { expiresInSeconds: opened ? 600 : 2 });
      };
      const { client, events } = createClient({ url: runtime.wsUrl, getToken, reconnect: { initialDelayMs: 50, maxDelayMs: 200 } });
      client.on('disconnected', () => (disconnected = true));
      const welcome = await client.connect();
      opened = true;

      await until(welcome.tokenExpiresAt!);
      await runtime.runCleanup();
      const notice = await step(events, 'the disconnect frame', events.once('disconnected'));
      const second = await step(
        events,
        'the reconnect',
        events.once('welcome', (next) => next.connectionId !== welcome.connectionId),
      );

      expect(notice).toEqual({ reason: 'token-expired', reconnect: true });
      expect(Date.parse(second.tokenExpiresAt!)).toBeGreaterThan(Date.now() + 500_000);
      expect(events.states()).toEqual(['connecting', 'open', 'reconnecting', 'open']);
      expect(runtime.connectionIds()).toEqual([second.connectionId]);
    });
  });
});
