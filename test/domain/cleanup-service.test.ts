import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryConnectionStore, MemoryState, MemorySubscriptionStore } from '../../lambdas/adapters/memory/index.js';
import { CleanupService } from '../../lambdas/domain/cleanup-service.js';
import { TransientError } from '../../lambdas/domain/errors.js';
import type { ConnectionRef } from '../../lambdas/domain/model.js';
import type { Log, MessageSender } from '../../lambdas/domain/ports.js';
import { automaticChannels } from '../../protocol/channels.js';

const NOW = new Date('2024-06-01T12:00:00.000Z');
const IDLE_TIMEOUT = 900;
const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** Records closes; connections listed in `failing` fail to close. */
class ClosingSender implements MessageSender {
  readonly closed: string[] = [];
  readonly failing = new Set<string>();

  async post(): Promise<void> {}

  async close(connectionId: string): Promise<void> {
    if (this.failing.has(connectionId)) throw new TransientError('503');
    this.closed.push(connectionId);
  }
}

function secondsAgo(seconds: number): string {
  return new Date(NOW.getTime() - seconds * 1000).toISOString();
}

describe('CleanupService', () => {
  let state: MemoryState;
  let connections: MemoryConnectionStore;
  let sender: ClosingSender;
  let service: CleanupService;

  async function connect(connectionId: string, lastSeenSecondsAgo: number, channels: string[] = []): Promise<void> {
    const userId = `user-of-${connectionId}`;
    await connections.open(
      {
        connectionId,
        userId,
        roles: [],
        connectedAt: secondsAgo(lastSeenSecondsAgo + 10),
        lastSeenAt: secondsAgo(lastSeenSecondsAgo),
        channels: [...automaticChannels(userId), ...channels],
      },
      { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
    );
  }

  beforeEach(() => {
    state = new MemoryState();
    connections = new MemoryConnectionStore(state, { pageSize: 2 });
    sender = new ClosingSender();
    service = new CleanupService({
      connections,
      sender,
      clock: { now: () => NOW },
      log: silentLog,
      idleTimeoutSeconds: IDLE_TIMEOUT,
      concurrency: 2,
    });
  });

  describe('run', () => {
    it('closes and removes connections silent for longer than idle_timeout, with their subscriptions', async () => {
      // Prepare
      await connect('stale-1', IDLE_TIMEOUT + 1, ['booking-updates']);
      await connect('stale-2', IDLE_TIMEOUT * 4);
      await connect('fresh', IDLE_TIMEOUT - 1, ['booking-updates']);

      // Act
      const summary = await service.run();

      // Assess
      expect(summary).toEqual({ examined: 2, closed: 2, removed: 2, failed: 0 });
      expect(sender.closed.sort()).toEqual(['stale-1', 'stale-2']);
      expect(await connections.get('stale-1')).toBeUndefined();
      expect(await connections.get('fresh')).toBeDefined();
      const subscribers: ConnectionRef[] = [];
      for await (const page of new MemorySubscriptionStore(state).listSubscribers('booking-updates')) subscribers.push(...page);
      expect(subscribers.map((ref) => ref.connectionId)).toEqual(['fresh']);
    });

    it('keeps a connection whose close failed, for the next pass', async () => {
      await connect('stale-ok', IDLE_TIMEOUT + 60);
      await connect('stale-stuck', IDLE_TIMEOUT + 60);
      sender.failing.add('stale-stuck');

      const summary = await service.run();

      expect(summary).toEqual({ examined: 2, closed: 1, removed: 1, failed: 1 });
      expect(await connections.get('stale-stuck')).toBeDefined();
    });

    it('spares a connection that was active again after it was listed', async () => {
      // Prepare: a store whose listing is older than its items, as an index can be.
      await connect('revived', IDLE_TIMEOUT + 60);
      const listing: typeof connections.listIdleSince = (cutoff) => connections.listIdleSince(cutoff);
      const lagging = Object.assign(Object.create(connections) as MemoryConnectionStore, {
        listIdleSince: (cutoff: string) => {
          const pages = listing(cutoff);
          return (async function* () {
            for await (const page of pages) {
              state.connections.set('revived', { ...state.connections.get('revived')!, lastSeenAt: NOW.toISOString() });
              yield page;
            }
          })();
        },
      });
      const lenient = new CleanupService({
        connections: lagging,
        sender,
        clock: { now: () => NOW },
        log: silentLog,
        idleTimeoutSeconds: IDLE_TIMEOUT,
        concurrency: 1,
      });

      // Act
      const summary = await lenient.run();

      // Assess
      expect(summary).toEqual({ examined: 1, closed: 0, removed: 0, failed: 0 });
      expect(await connections.get('revived')).toBeDefined();
    });
  });

  describe('cleanupInactive', () => {
    it('uses the idle time it is given instead of idle_timeout', async () => {
      await connect('five-minutes', 300);
      await connect('one-minute', 60);

      const summary = await service.cleanupInactive(120);

      expect(summary).toMatchObject({ examined: 1, removed: 1 });
      expect(sender.closed).toEqual(['five-minutes']);
    });

    it('refuses a negative idle time', async () => {
      await expect(service.cleanupInactive(-1)).rejects.toThrow(RangeError);
    });
  });
});
