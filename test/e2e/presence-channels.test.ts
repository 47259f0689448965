import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../protocol/frames.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken, TestClient } from '../support/ws-client.js';

/**
 * Presence channels (protocol section 9) through the local runtime: real WebSocket
 * clients, the real handlers, DynamoDB Local, `join` / `leave` posted through the
 * loopback Management API.
 */
describe('presence channels through the local runtime', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];
  const connect = async (userId: string) => {
    const opened = await TestClient.connect(runtime.wsUrl, userId);
    clients.push(opened.client);
    return opened.client;
  };
  const memberEvent = (type: 'join' | 'leave', channel: string, userId: string) => (frame: ServerFrame) =>
    frame.type === type && frame.payload.channel === channel && frame.payload.userId === userId;
  /** Resolves when no matching frame arrives within `ms`. */
  const noFrame = async (client: TestClient, predicate: (frame: ServerFrame) => boolean, ms = 1500) =>
    expect(client.next(predicate, ms)).rejects.toThrow(/no matching frame/);

  beforeAll(async () => {
    runtime = await startTestRuntime({
      channels: { access: { 'presence-*': ['*'], 'booking-updates': ['*'] }, presence: ['presence-*'], presence_max_members: 3 },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it('shows two users each other in members, sends join and leave, and one join for two tabs', async () => {
    // Prepare
    const alice = await connect('pc-alice');
    await alice.request('subscribe', { channels: ['presence-lobby'] });

    // Act: bob arrives with one tab, then a second.
    const bob1 = await connect('pc-bob');
    await bob1.request('subscribe', { channels: ['presence-lobby'] });
    const joined = await alice.next(memberEvent('join', 'presence-lobby', 'pc-bob'));
    const bob2 = await connect('pc-bob');
    await bob2.request('subscribe', { channels: ['presence-lobby'] });

    // Assess: the join names the channel in its envelope; each sees the other once.
    expect(joined).toMatchObject({ type: 'join', channel: 'presence-lobby', payload: { channel: 'presence-lobby', userId: 'pc-bob' } });
    const byAlice = await alice.request('members', { channel: 'presence-lobby' });
    const byBob = await bob2.request('members', { channel: 'presence-lobby' });
    expect(byAlice).toMatchObject({ type: 'members', payload: { channel: 'presence-lobby', count: 2, truncated: false } });
    expect(byAlice.payload).toMatchObject({ members: { 'pc-alice': { connections: 1 }, 'pc-bob': { connections: 2 } } });
    expect(byBob.payload).toEqual(byAlice.payload);
    await noFrame(alice, memberEvent('join', 'presence-lobby', 'pc-bob'));
    // A user is not told of their own join.
    await noFrame(bob1, memberEvent('join', 'presence-lobby', 'pc-bob'), 200);

    // Act: one of bob's tabs closes: no leave. The other unsubscribes: leave.
    await bob1.close();
    await noFrame(alice, memberEvent('leave', 'presence-lobby', 'pc-bob'));
    expect((await alice.request('members', { channel: 'presence-lobby' })).payload).toMatchObject({ count: 2, members: { 'pc-bob': { connections: 1 } } });
    await bob2.request('unsubscribe', { channels: ['presence-lobby'] });
    await alice.next(memberEvent('leave', 'presence-lobby', 'pc-bob'));

    // Act: bob comes back and closes the window: leave within 5 s of the socket closing.
    const bob3 = await connect('pc-bob');
    await bob3.request('subscribe', { channels: ['presence-lobby'] });
    await alice.next(memberEvent('join', 'presence-lobby', 'pc-bob'));
    await bob3.close();
    await alice.next(memberEvent('leave', 'presence-lobby', 'pc-bob'), 5000);
    expect((await alice.request('members', { channel: 'presence-lobby' })).payload).toMatchObject({ count: 1, members: { 'pc-alice': { connections: 1 } } });
  });

  it('refuses members for a channel the connection does not hold, a channel that is not a presence channel, and a malformed name', async () => {
    const carol = await connect('pc-carol');
    await carol.request('subscribe', { channels: ['booking-updates'] });
    expect(await carol.request('members', { channel: 'presence-lobby' })).toMatchObject({ type: 'error', payload: { code: 'FORBIDDEN' } });
    expect(await carol.request('members', { channel: 'booking-updates' })).toMatchObject({ type: 'error', payload: { code: 'FORBIDDEN' } });
    expect(await carol.request('members', { channel: 'Presence Lobby' })).toMatchObject({ type: 'error', payload: { code: 'INVALID_MESSAGE' } });
  });

  it('ends a concurrent join/leave race of one user with the right members and one join per transition', async () => {
    // Prepare
    const watcher = await connect('pc-watch');
    await watcher.request('subscribe', { channels: ['presence-race'] });
    const tabs = await Promise.all(Array.from({ length: 4 }, () => connect('pc-racer')));

    // Act: all four tabs subscribe at once; then two unsubscribe at once.
    await Promise.all(tabs.map((tab) => tab.request('subscribe', { channels: ['presence-race'] })));
    await watcher.next(memberEvent('join', 'presence-race', 'pc-racer'));
    await Promise.all(tabs.slice(0, 2).map((tab) => tab.request('unsubscribe', { channels: ['presence-race'] })));

    // Assess
    await noFrame(watcher, (frame) => (frame.type === 'join' || frame.type === 'leave') && frame.payload.channel === 'presence-race');
    expect((await watcher.request('members', { channel: 'presence-race' })).payload).toMatchObject({
      count: 2,
      members: { 'pc-watch': { connections: 1 }, 'pc-racer': { connections: 2 } },
    });

    // Act: the last two close at once: exactly one leave.
    await Promise.all(tabs.slice(2).map((tab) => tab.close()));
    await watcher.next(memberEvent('leave', 'presence-race', 'pc-racer'), 5000);
    await noFrame(watcher, memberEvent('leave', 'presence-race', 'pc-racer'));
    expect((await watcher.request('members', { channel: 'presence-race' })).payload).toMatchObject({ count: 1, members: { 'pc-watch': { connections: 1 } } });
  });

  it('above presence_max_members (3) answers the count only and sends no join', async () => {
    const first = await connect('pc-m0');
    await first.request('subscribe', { channels: ['presence-big'] });
    for (const userId of ['pc-m1', 'pc-m2', 'pc-m3']) await (await connect(userId)).request('subscribe', { channels: ['presence-big'] });
    await first.next(memberEvent('join', 'presence-big', 'pc-m2'));
    await noFrame(first, memberEvent('join', 'presence-big', 'pc-m3'));
    expect((await first.request('members', { channel: 'presence-big' })).payload).toEqual({ channel: 'presence-big', count: 4, members: {}, truncated: true });
  });
});

describe('presence channels when $disconnect is lost', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    // API Gateway delivers $disconnect on a best-effort basis: here it never runs.
    runtime = await startTestRuntime(
      { channels: { access: { 'presence-*': ['*'] }, presence: ['presence-*'] } },
      { handlers: { Disconnect: async () => ({ statusCode: 200 }) } },
    );
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it('sends the leave from cleanup, which removes the vanished connection', async () => {
    // Prepare: alice watches; bob's token expires in 2 s, so cleanup's expiry pass takes him.
    const { client: alice } = await TestClient.connect(runtime.wsUrl, 'lost-alice');
    clients.push(alice);
    await alice.request('subscribe', { channels: ['presence-lobby'] });
    const bob = await TestClient.open(runtime.wsUrl, { token: await mintToken('lost-bob', [], { expiresInSeconds: 2 }) });
    clients.push(bob);
    await bob.next((frame) => frame.type === 'welcome');
    await bob.request('subscribe', { channels: ['presence-lobby'] });
    await alice.next((frame) => frame.type === 'join' && frame.payload.userId === 'lost-bob');

    // Act: bob's socket closes and no $disconnect runs: still listed, no leave.
    await bob.close();
    await expect(alice.next((frame) => frame.type === 'leave', 1000)).rejects.toThrow(/no matching frame/);
    expect((await alice.request('members', { channel: 'presence-lobby' })).payload).toMatchObject({ count: 2 });
    await new Promise((resolve) => setTimeout(resolve, 2500));
    await runtime.runCleanup();

    // Assess
    const leave = await alice.next((frame) => frame.type === 'leave', 5000);
    expect(leave).toMatchObject({ channel: 'presence-lobby', payload: { channel: 'presence-lobby', userId: 'lost-bob' } });
    expect((await alice.request('members', { channel: 'presence-lobby' })).payload).toMatchObject({ count: 1, members: { 'lost-alice': { connections: 1 } } });
  });
});
