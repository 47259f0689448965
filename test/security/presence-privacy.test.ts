import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { MemoryConnectionStore, MemoryPresenceStore, MemoryState, MemorySubscriptionStore } from '../../lambdas/adapters/memory/index.js';
import { AccessPolicy } from '../../lambdas/domain/access-policy.js';
import { ConnectionNotFoundError } from '../../lambdas/domain/errors.js';
import type { Identity } from '../../lambdas/domain/model.js';
import { PresenceService } from '../../lambdas/domain/presence-service.js';
import { automaticChannels } from '../../protocol/channels.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { TestClient } from '../support/ws-client.js';

const ACCESS = { 'booking-updates': ['*'], 'team-*': ['staff'], 'ops.alerts': ['oncall', '*'], 'presence-*': ['*'] };
/** Presence channels are named by `channels.presence`, never inferred from `access`. */
const PRESENCE = ['team-*', 'presence-*'];
const OFFLINE = { online: false, connections: 0 };

describe('AccessPolicy', () => {
  describe('revealsPresence', () => {
    const policy = new AccessPolicy({ access: ACCESS, presence: PRESENCE });

    it.each([
      ['a presence channel a role rule restricts', 'team-red', true],
      ['a presence channel open to any user', 'presence-lobby', true],
      ['a channel open to any user, not a presence channel', 'booking-updates', false],
      ['a channel whose roles include "*", not a presence channel', 'ops.alerts', false],
      ['system-announcements', 'system-announcements', false],
      ['a personal channel', 'user-bob', false],
      ['a channel no rule names (admins only)', 'payroll', false],
      ['an invalid name', 'Team-red', false],
    ])('%s: %s -> %s', (_label, channel, reveals) => {
      expect(policy.revealsPresence(channel)).toBe(reveals);
    });

    it('never counts system-announcements or a personal channel, whatever a pattern matches', () => {
      const everything = new AccessPolicy({ access: ACCESS, presence: ['*', 'user-*'] });
      expect(everything.revealsPresence('system-announcements')).toBe(false);
      expect(everything.revealsPresence('user-bob')).toBe(false);
      expect(everything.revealsPresence('booking-updates')).toBe(true);
    });

    it('names no presence channel when channels.presence is empty, restricted or not', () => {
      const none = new AccessPolicy({ access: ACCESS });
      expect(none.revealsPresence('team-red')).toBe(false);
      expect(none.revealsPresence('presence-lobby')).toBe(false);
    });
  });
});

describe('PresenceService', () => {
  let state: MemoryState;
  let connections: MemoryConnectionStore;
  let subscriptions: MemorySubscriptionStore;
  let service: PresenceService;

  async function open(connectionId: string, identity: Identity, channels: string[] = []) {
    const now = '2026-01-01T00:00:00.000Z';
    await connections.open(
      { connectionId, userId: identity.userId, roles: identity.roles, connectedAt: now, lastSeenAt: now, channels: automaticChannels(identity.userId) },
      { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
    );
    if (channels.length > 0) await subscriptions.subscribe({ connectionId, userId: identity.userId }, channels);
    return { connectionId, identity };
  }

  const alice = { userId: 'alice', roles: ['staff'] };
  const bob = { userId: 'bob', roles: ['staff'] };
  const carol = { userId: 'carol', roles: [] };
  const root = { userId: 'root', roles: ['admin'] };

  beforeEach(() => {
    state = new MemoryState();
    connections = new MemoryConnectionStore(state);
    subscriptions = new MemorySubscriptionStore(state);
    service = new PresenceService({ presence: new MemoryPresenceStore(state), connections, access: new AccessPolicy({ access: ACCESS, presence: PRESENCE }) });
  });

  describe('query', () => {
    it('shows a user who shares a presence channel with the asking connection', async () => {
      const asker = await open('c-alice', alice, ['team-red']);
      await open('c-bob', bob, ['team-red']);
      const answer = await service.query(asker, ['bob']);
      expect(answer.users.bob).toEqual({ online: true, connections: 1, lastSeenAt: '2026-01-01T00:00:00.000Z' });
    });

    it('answers a user who shares nothing exactly as a user who does not exist', async () => {
      const asker = await open('c-alice', alice, ['team-red']);
      await open('c-bob', bob, ['team-blue']);
      const answer = await service.query(asker, ['bob', 'nobody']);
      expect(answer.users).toEqual({ bob: OFFLINE, nobody: OFFLINE });
    });

    it('reveals nothing through channels that are not presence channels', async () => {
      const asker = await open('c-carol', carol, ['booking-updates', 'ops.alerts']);
      await open('c-bob', bob, ['booking-updates', 'ops.alerts', 'team-red']);
      const answer = await service.query(asker, ['bob']);
      expect(answer.users.bob).toEqual(OFFLINE);
    });

    it('decides per asking connection: a channel held by another connection of the asker does not count', async () => {
      const asker = await open('c-alice-1', alice);
      await open('c-alice-2', alice, ['team-red']);
      await open('c-bob', bob, ['team-red']);
      expect((await service.query(asker, ['bob'])).users.bob).toEqual(OFFLINE);
    });

    it("counts every connection of a visible user, and sees them through any of the user's connections", async () => {
      const asker = await open('c-alice', alice, ['team-red']);
      await open('c-bob-1', bob);
      await open('c-bob-2', bob, ['team-red']);
      expect((await service.query(asker, ['bob'])).users.bob).toMatchObject({ online: true, connections: 2 });
    });

    it('hides a user again once the shared channel is left', async () => {
      const asker = await open('c-alice', alice, ['team-red']);
      await open('c-bob', bob, ['team-red']);
      await subscriptions.unsubscribe('c-bob', ['team-red']);
      expect((await service.query(asker, ['bob'])).users.bob).toEqual(OFFLINE);
    });

    it('always shows the asker their own presence', async () => {
      const asker = await open('c-carol', carol);
      await open('c-carol-2', carol);
      expect((await service.query(asker, ['carol'])).users.carol).toMatchObject({ online: true, connections: 2 });
    });

    it('shows admin anyone', async () => {
      const asker = await open('c-root', root);
      await open('c-bob', bob);
      expect((await service.query(asker, ['bob', 'nobody'])).users).toEqual({
        bob: { online: true, connections: 1, lastSeenAt: '2026-01-01T00:00:00.000Z' },
        nobody: OFFLINE,
      });
    });

    it('refuses an asker whose connection is gone', async () => {
      await expect(service.query({ connectionId: 'c-gone', identity: carol }, ['bob'])).rejects.toBeInstanceOf(ConnectionNotFoundError);
    });
  });
});

describe('presence privacy through the local runtime', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];
  const connect = async (userId: string, roles: string[] = []) => {
    const opened = await TestClient.connect(runtime.wsUrl, userId, roles);
    clients.push(opened.client);
    return opened;
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({ channels: { access: ACCESS, presence: PRESENCE } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it('shows team members each other, shows strangers nothing, shows admin everyone', async () => {
    // Prepare
    const { client: alice } = await connect('p-alice', ['staff']);
    const { client: bob } = await connect('p-bob', ['staff']);
    const { client: carol } = await connect('p-carol');
    const { client: root } = await connect('p-root', ['admin']);
    for (const client of [alice, bob]) await client.request('subscribe', { channels: ['team-red', 'booking-updates'] });
    await carol.request('subscribe', { channels: ['booking-updates'] });

    // Act
    const byAlice = await alice.request('presence', { userIds: ['p-bob', 'p-carol', 'p-alice'] });
    const byCarol = await carol.request('presence', { userIds: ['p-bob', 'p-alice', 'p-nobody'] });
    const byRoot = await root.request('presence', { userIds: ['p-bob', 'p-carol'] });

    // Assess
    expect(byAlice.payload).toMatchObject({
      users: { 'p-bob': { online: true, connections: 1 }, 'p-carol': OFFLINE, 'p-alice': { online: true, connections: 1 } },
    });
    expect(byCarol.payload).toEqual({ users: { 'p-bob': OFFLINE, 'p-alice': OFFLINE, 'p-nobody': OFFLINE } });
    expect(byRoot.payload).toMatchObject({ users: { 'p-bob': { online: true }, 'p-carol': { online: true } } });

    // Once bob leaves, alice sees him offline: a hidden user and an offline one look alike.
    await bob.close();
    await vi.waitFor(async () => expect((await alice.request('presence', { userIds: ['p-bob'] })).payload).toEqual({ users: { 'p-bob': OFFLINE } }), {
      timeout: 10_000,
      interval: 100,
    });
  });
});
