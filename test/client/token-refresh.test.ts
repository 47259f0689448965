import { afterEach, describe, expect, it } from 'vitest';
import { NotificationClient, type NotificationClientOptions } from '../../client/index.js';
import { refreshDelayMs, tokenExpiry } from '../../client/token-expiry.js';
import { ClientEvents } from './client-events.js';
import { FakeNotificationServer } from './fake-server.js';

/**
 * Tokens that expire on an open connection, from the SDK's side: it refreshes through
 * getToken ahead of the expiry welcome tells, and reconnects with a fresh token when the
 * server disconnects it with `token-expired`. Against the fake server over real sockets.
 */
describe('NotificationClient token refresh', () => {
  let server: FakeNotificationServer;
  const clients: NotificationClient[] = [];

  const start = async (tokenLifetimeMs?: number) => {
    server = await FakeNotificationServer.start(tokenLifetimeMs === undefined ? {} : { tokenLifetimeMs });
  };

  const createClient = (options: Partial<NotificationClientOptions>) => {
    const client = new NotificationClient({ url: server.url, reconnect: { initialDelayMs: 10, maxDelayMs: 50 }, ...options } as NotificationClientOptions);
    clients.push(client);
    return { client, events: new ClientEvents(client) };
  };

  /** A getToken that hands out numbered tokens of `userId` and records each call. */
  const tokenSource = (userId = 'alice') => {
    const calls: string[] = [];
    return {
      calls,
      getToken: async () => {
        const token = `${userId}:${calls.length + 1}`;
        calls.push(token);
        return token;
      },
    };
  };

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server?.stop();
  });

  it('refreshes the open connection with a token from getToken before it expires, and again after', async () => {
    // Prepare: tokens last 2.5 s; refresh 1.5 s before expiry, so at about 1 s.
    await start(2_500);
    const tokens = tokenSource();
    const { client, events } = createClient({ getToken: tokens.getToken, refreshBeforeExpiryMs: 1_500 });

    // Act
    const welcome = await client.connect();
    const first = await events.next('refreshed');
    const refreshedAt = Date.now();
    const second = await events.next('refreshed');

    // Assess
    expect(refreshedAt).toBeLessThan(Date.parse(welcome.tokenExpiresAt!));
    expect(Date.parse(second.expiresAt)).toBeGreaterThan(Date.parse(first.expiresAt));
    const connection = await server.connection(0);
    expect(connection.received.filter((frame) => frame.type === 'refresh').map((frame) => frame.payload.token)).toEqual(['alice:2', 'alice:3']);
    expect(server.connections).toHaveLength(1);
    expect(client.state).toBe('open');
  });

  it('reports a refused refresh as an error event and keeps the connection open', async () => {
    // Prepare: after the first token, getToken hands out another user's (a sign-in switched users).
    await start(2_000);
    let calls = 0;
    const getToken = async () => (++calls === 1 ? 'alice:1' : `bob:${calls}`);
    const { client, events } = createClient({ getToken, refreshBeforeExpiryMs: 1_500 });
    await client.connect();

    // Act
    const refused = await events.next('error', (error) => error.code === 'TOKEN_USER_MISMATCH');

    // Assess
    expect(refused.details).toMatchObject({ request: 'refresh' });
    expect(client.state).toBe('open');
    expect(server.connections).toHaveLength(1);
  });

  it('sends no refresh without getToken (a fixed token cannot be renewed)', async () => {
    // Prepare
    await start(1_200);
    const { client } = createClient({ token: 'alice:fixed', refreshBeforeExpiryMs: 1_000 });
    await client.connect();

    // Act: past when a refresh would have gone.
    await new Promise((resolve) => setTimeout(resolve, 1_300));

    // Assess
    expect((await server.connection(0)).received.some((frame) => frame.type === 'refresh')).toBe(false);
  });

  it('on a token-expired disconnect, reconnects at once with a fresh token from getToken', async () => {
    // Prepare
    await start();
    const tokens = tokenSource();
    const { client, events } = createClient({ getToken: tokens.getToken });
    await client.connect();
    const first = await server.connection(0);

    // Act
    first.expire();
    const notice = await events.next('disconnected');
    const second = await server.connection(1);
    await events.once('state', (change) => change.state === 'open' && change.previous === 'reconnecting');

    // Assess
    expect(notice).toEqual({ reason: 'token-expired', reconnect: true });
    expect(second.token).toBe('alice:2');
    expect(events.states()).toEqual(['connecting', 'open', 'reconnecting', 'open']);
  });
});

describe('token-expiry building blocks', () => {
  const jwtWith = (payload: unknown) => `e30.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.sig`;

  it('reads exp from a JWT without verifying it, and nothing from anything else', () => {
    expect(tokenExpiry(jwtWith({ sub: 'alice', exp: 1_900_000_000 }))).toBe('2030-03-17T17:46:40.000Z');
    expect(tokenExpiry(jwtWith({ sub: 'alice' }))).toBeUndefined();
    expect(tokenExpiry(jwtWith({ exp: 'soon' }))).toBeUndefined();
    expect(tokenExpiry(jwtWith({ exp: 1e300 }))).toBeUndefined();
    expect(tokenExpiry('alice:1')).toBeUndefined();
    expect(tokenExpiry('a.%%%.c')).toBeUndefined();
  });

  it('refreshes the lead time before expiry, never earlier than half the time left nor within a second, and not at all once expired', () => {
    const now = Date.parse('2030-01-01T00:00:00.000Z');
    expect(refreshDelayMs('2030-01-01T01:00:00.000Z', now, 60_000)).toBe(3_540_000);
    expect(refreshDelayMs('2030-01-01T00:00:30.000Z', now, 60_000)).toBe(15_000);
    expect(refreshDelayMs('2030-01-01T00:00:01.000Z', now, 60_000)).toBe(1_000);
    expect(refreshDelayMs('2029-12-31T23:59:59.000Z', now, 60_000)).toBeNaN();
    expect(refreshDelayMs('2030-01-01T00:10:00.000Z', '2030-01-01T00:00:00.000Z', 60_000)).toBe(540_000);
  });
});
