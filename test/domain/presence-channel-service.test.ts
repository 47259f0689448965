import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryConnectionStore, MemoryState, MemorySubscriptionStore } from '../../lambdas/adapters/memory/index.js';
import { MemoryPresenceChannelStore } from '../../lambdas/adapters/memory/presence-channel-store.js';
import { AccessPolicy } from '../../lambdas/domain/access-policy.js';
import { CleanupService } from '../../lambdas/domain/cleanup-service.js';
import { tellingRemovals } from '../../lambdas/domain/connection-removal.js';
import { ConnectionDelivery } from '../../lambdas/domain/fanout/connection-delivery.js';
import type { Log } from '../../lambdas/domain/ports.js';
import { PresenceChannelService } from '../../lambdas/domain/presence-channel-service.js';
import { automaticChannels } from '../../protocol/channels.js';
import { RecordingSender } from '../support/recording-sender.js';

const NOW = new Date('2030-01-01T12:00:00.000Z');
const IDLE_TIMEOUT = 900;
const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
const STALE = new Date(NOW.getTime() - (IDLE_TIMEOUT + 60) * 1000).toISOString();
const FRESH = NOW.toISOString();

describe('PresenceChannelService', () => {
  let state: MemoryState;
  let connections: MemoryConnectionStore;
  let subscriptions: MemorySubscriptionStore;
  let store: MemoryPresenceChannelStore;
  let sender: RecordingSender;
  let presence: PresenceChannelService;
  let cleanup: CleanupService;

  /** A connection holding `presence-lobby`, entered as the subscribe route would. */
  async function inLobby(connectionId: string, userId: string, lastSeenAt: string): Promise<void> {
    await connections.open(
      { connectionId, userId, roles: [], connectedAt: lastSeenAt, lastSeenAt, channels: automaticChannels(userId) },
      { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
    );
    await subscriptions.subscribe({ connectionId, userId }, ['presence-lobby']);
    await presence.entered({ connectionId, userId }, ['presence-lobby']);
  }

  /** The join / leave frames posted to a connection, as [type, userId]. */
  const eventsTo = (connectionId: string) =>
    sender
      .framesTo(connectionId)
      .filter((frame) => frame.type === 'join' || frame.type === 'leave')
      .map((frame) => [frame.type, (frame.payload as { userId: string }).userId]);

  beforeEach(() => {
    state = new MemoryState();
    connections = new MemoryConnectionStore(state);
    subscriptions = new MemorySubscriptionStore(state);
    store = new MemoryPresenceChannelStore();
    sender = new RecordingSender();
    presence = new PresenceChannelService({
      store,
      connections,
      subscriptions,
      sender,
      access: new AccessPolicy({ access: { 'presence-*': ['*'] }, presence: ['presence-*'] }),
      clock: { now: () => NOW },
      log: silent,
      maxMembers: 100,
    });
    cleanup = new CleanupService({
      connections,
      sender,
      clock: { now: () => NOW },
      log: silent,
      idleTimeoutSeconds: IDLE_TIMEOUT,
      concurrency: 2,
      onRemoved: (connection) => presence.left(connection, connection.channels),
    });
  });

  describe('with cleanup', () => {
    it("sends the leave a missed $disconnect did not: the user's last connection removed by cleanup", async () => {
      // Prepare
      await inLobby('c-alice', 'alice', FRESH);
      await inLobby('c-bob', 'bob', STALE);

      // Act
      const summary = await cleanup.run();

      // Assess
      expect(summary.removed).toBe(1);
      expect(eventsTo('c-alice')).toEqual([
        ['join', 'bob'],
        ['leave', 'bob'],
      ]);
      expect((await store.members('presence-lobby', 100)).members.map((member) => member.userId)).toEqual(['alice']);
    });

    it("sends no leave when cleanup removes one of a user's two connections, and counts one connection fewer", async () => {
      // Prepare
      await inLobby('c-alice', 'alice', FRESH);
      await inLobby('c-bob-1', 'bob', STALE);
      await inLobby('c-bob-2', 'bob', FRESH);

      // Act
      await cleanup.run();

      // Assess
      expect(eventsTo('c-alice')).toEqual([['join', 'bob']]);
      expect((await store.members('presence-lobby', 100)).members).toContainEqual({ userId: 'bob', connections: 1, joinedAt: FRESH });
    });
  });

  describe('with a fan-out that finds a socket gone (410)', () => {
    it('sends the leave of a user whose last connection answered 410, once, and lists them no more', async () => {
      // Prepare: bob's socket died without a $disconnect.
      await inLobby('c-alice', 'alice', FRESH);
      await inLobby('c-bob', 'bob', FRESH);
      sender.gone.add('c-bob');
      const delivery = new ConnectionDelivery({
        sender,
        connections: tellingRemovals(connections, (connection) => presence.left(connection, connection.channels), silent),
        log: silent,
        concurrency: 2,
        sleep: async () => {},
        random: () => 0,
      });
      const audience = [
        [
          { connectionId: 'c-alice', userId: 'alice' },
          { connectionId: 'c-bob', userId: 'bob' },
        ],
      ];

      // Act: two notifications to the channel; the second finds bob already removed.
      const first = await delivery.deliver(audience, '{"type":"notification"}');
      await delivery.deliver(audience, '{"type":"notification"}');

      // Assess
      expect(first).toMatchObject({ delivered: 1, gone: 1 });
      expect(eventsTo('c-alice')).toEqual([
        ['join', 'bob'],
        ['leave', 'bob'],
      ]);
      expect((await store.members('presence-lobby', 100)).members.map((member) => member.userId)).toEqual(['alice']);
    });
  });

  it('tells neither the user themself nor anyone outside the channel', async () => {
    await connections.open(
      { connectionId: 'c-out', userId: 'carol', roles: [], connectedAt: FRESH, lastSeenAt: FRESH, channels: automaticChannels('carol') },
      { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
    );
    await inLobby('c-alice', 'alice', FRESH);
    await inLobby('c-bob', 'bob', FRESH);
    expect(eventsTo('c-bob')).toEqual([]);
    expect(eventsTo('c-out')).toEqual([]);
    expect(eventsTo('c-alice')).toEqual([['join', 'bob']]);
  });
});
