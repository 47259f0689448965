import { beforeEach, describe, expect, it } from 'vitest';
import { MemoryConnectionStore, MemoryNotificationLog, MemoryState, MemorySubscriptionStore } from '../../lambdas/adapters/memory/index.js';
import { ConnectionGoneError, PostInDoubtError, ThrottledError, TransientError } from '../../lambdas/domain/errors.js';
import { LEASE_MARGIN_MS } from '../../lambdas/domain/fanout/shard-worker.js';
import { messageIdOf } from '../../lambdas/domain/fanout/message-id.js';
import type { ReadableRecord, SourceRecord } from '../../lambdas/domain/fanout/source-record.js';
import type { FanoutService } from '../../lambdas/domain/fanout/fanout-service.js';
import { wireFanout, type FanoutSettings } from '../../lambdas/fanout-wiring.js';
import type { ConnectionRef } from '../../lambdas/domain/model.js';
import type { DeliveryLedger, Log, MessageSender, StoredNotification } from '../../lambdas/domain/ports.js';
import { withOverrides } from '../support/overrides.js';
import { automaticChannels } from '../../protocol/channels.js';
import { notificationFrame } from '../../protocol/frames.js';
import { producerRecord, type Target } from '../../protocol/records.js';
import { MemoryDeadLetterSink } from '../../lambdas/adapters/memory/dead-letter-sink.js';
import { MemoryDeliveryProgressStore } from '../../lambdas/adapters/memory/delivery-progress-store.js';
import { MemoryDeliveryLedger } from '../../lambdas/adapters/memory/delivery-ledger.js';

const NOW = new Date('2024-06-01T12:00:00.000Z');
const TOPIC = 'booking-updates';

/** A Management API stand-in: records posts, counts posts in flight, fails on demand. */
class ScriptedSender implements MessageSender {
  readonly posts: Array<{ connectionId: string; frame: Record<string, unknown> }> = [];
  readonly attempts = new Map<string, number>();
  readonly gone = new Set<string>();
  /** Errors to throw, in order, for a connection's attempts before it succeeds. */
  readonly faults = new Map<string, Error[]>();
  inFlight = 0;
  maxInFlight = 0;
  onPost: (connectionId: string) => void = () => {};

  async post(connectionId: string, data: string): Promise<void> {
    this.attempts.set(connectionId, (this.attempts.get(connectionId) ?? 0) + 1);
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    try {
      // Yield to the event loop so that posts started together overlap.
      await new Promise((resolve) => setImmediate(resolve));
      this.onPost(connectionId);
      if (this.gone.has(connectionId)) throw new ConnectionGoneError(connectionId);
      const fault = this.faults.get(connectionId)?.shift();
      if (fault) throw fault;
      this.posts.push({ connectionId, frame: JSON.parse(data) as Record<string, unknown> });
    } finally {
      this.inFlight -= 1;
    }
  }

  async close(): Promise<void> {}

  framesTo(connectionId: string): Array<Record<string, unknown>> {
    return this.posts.filter((post) => post.connectionId === connectionId).map((post) => post.frame);
  }
}

const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

interface World {
  state: MemoryState;
  connections: MemoryConnectionStore;
  subscriptions: MemorySubscriptionStore;
  notifications: MemoryNotificationLog;
  sender: ScriptedSender;
  ledger: MemoryDeliveryLedger;
  progress: MemoryDeliveryProgressStore;
  deadLetters: MemoryDeadLetterSink;
  sleeps: number[];
  service(overrides?: Partial<FanoutSettings>): FanoutService;
  connect(connectionId: string, userId: string, channels?: string[]): Promise<void>;
}

function createWorld(): World {
  const state = new MemoryState();
  // Small pages, so that every audience spans several pages.
  const connections = new MemoryConnectionStore(state, { pageSize: 2 });
  const subscriptions = new MemorySubscriptionStore(state, { pageSize: 2 });
  const notifications = new MemoryNotificationLog(state);
  const sender = new ScriptedSender();
  const ledger = new MemoryDeliveryLedger(state);
  const progress = new MemoryDeliveryProgressStore();
  const deadLetters = new MemoryDeadLetterSink();
  const sleeps: number[] = [];
  return {
    state,
    connections,
    subscriptions,
    notifications,
    sender,
    ledger,
    progress,
    deadLetters,
    sleeps,
    service: (overrides = {}) =>
      wireFanout({
        connections,
        subscriptions,
        notifications,
        sender,
        ledger,
        progress,
        deadLetters,
        clock: { now: () => NOW },
        log: silentLog,
        concurrency: 4,
        historyTtlSeconds: 3600,
        topicChannels: {},
        sleep: async (ms) => {
          sleeps.push(ms);
        },
        random: () => 0.5,
        ...overrides,
      }),
    connect: async (connectionId, userId, channels = []) => {
      await connections.open(
        {
          connectionId,
          userId,
          roles: [],
          connectedAt: NOW.toISOString(),
          lastSeenAt: NOW.toISOString(),
          channels: [...automaticChannels(userId), ...channels],
        },
        { limit: 100, staleBefore: '1970-01-01T00:00:00.000Z' },
      );
    },
  };
}

let nextOffset = 0;

/** A readable source record, as the Kafka adapter hands it over. */
function sourceRecord(fields: Record<string, unknown> = {}, position: { topic?: string; partition?: number; offset?: number } = {}): SourceRecord {
  const offset = position.offset ?? nextOffset++;
  const record = producerRecord.parse({
    type: 'notification',
    payload: {
      // One notification per offset: without messageId, the key is the target and this.
      notificationId: `n-${offset}`,
      title: 'Booking Confirmed',
      message: 'Your booking has been confirmed',
      priority: 'medium',
      createdAt: '2024-01-01T00:00:00Z',
    },
    ...fields,
  });
  return { topic: position.topic ?? TOPIC, partition: position.partition ?? 0, offset, record };
}

function connectionIds(frames: Array<{ connectionId: string }>): string[] {
  return frames.map((post) => post.connectionId).sort();
}

describe('FanoutService', () => {
  let world: World;

  beforeEach(() => {
    world = createWorld();
  });

  describe('fanOut: targets (protocol section 6)', () => {
    it('delivers a targetUserId record to every connection of that user, and only there', async () => {
      // Prepare
      await world.connect('alice-1', 'alice');
      await world.connect('alice-2', 'alice');
      await world.connect('bob-1', 'bob');

      // Act
      const { summary } = await world.service().fanOut([sourceRecord({ targetUserId: 'alice' })]);

      // Assess
      expect(connectionIds(world.sender.posts)).toEqual(['alice-1', 'alice-2']);
      expect(world.sender.posts[0]!.frame).toMatchObject({ type: 'notification', targetUserId: 'alice' });
      expect(world.sender.posts[0]!.frame).not.toHaveProperty('channel');
      expect(summary).toMatchObject({ records: 1, targets: 2, delivered: 2, gone: 0, failed: 0, duplicates: 0, invalid: [] });
    });

    it("delivers a channel record to the channel's subscribers, across pages", async () => {
      for (const id of ['s1', 's2', 's3', 's4', 's5']) await world.connect(id, `user-of-${id}`, ['waitlist-notifications']);
      await world.connect('other', 'carol');

      const { summary } = await world.service().fanOut([sourceRecord({ channel: 'waitlist-notifications' })]);

      expect(connectionIds(world.sender.posts)).toEqual(['s1', 's2', 's3', 's4', 's5']);
      expect(world.sender.posts[0]!.frame).toMatchObject({ channel: 'waitlist-notifications' });
      expect(summary.delivered).toBe(5);
    });

    it('delivers a broadcast record to every connection, with broadcast: true on the envelope', async () => {
      for (const id of ['c1', 'c2', 'c3']) await world.connect(id, `u-${id}`);

      const { summary } = await world.service().fanOut([sourceRecord({ broadcast: true })]);

      expect(connectionIds(world.sender.posts)).toEqual(['c1', 'c2', 'c3']);
      expect(world.sender.posts.every((post) => post.frame.broadcast === true)).toBe(true);
      expect(summary).toMatchObject({ targets: 3, delivered: 3 });
    });

    it('sends a record without target to the channel named like its topic', async () => {
      await world.connect('sub', 'dave', [TOPIC]);
      await world.connect('not-sub', 'erin');

      await world.service().fanOut([sourceRecord({}, { topic: TOPIC })]);

      expect(connectionIds(world.sender.posts)).toEqual(['sub']);
      expect(world.sender.posts[0]!.frame).toMatchObject({ channel: TOPIC });
    });

    it('sends a record without target to the channel its topic maps to in topic_channels', async () => {
      await world.connect('sub', 'dave', ['booking-updates']);

      await world.service({ topicChannels: { Bookings_V1: 'booking-updates' } }).fanOut([sourceRecord({}, { topic: 'Bookings_V1' })]);

      expect(world.sender.framesTo('sub')).toHaveLength(1);
      expect(world.sender.framesTo('sub')[0]).toMatchObject({ channel: 'booking-updates' });
    });

    it('sets aside a record without target whose topic names no valid channel, saying how to fix it', async () => {
      const { summary } = await world.service().fanOut([sourceRecord({}, { topic: 'Bookings_V1', partition: 1, offset: 9 })]);

      expect(summary.invalid).toEqual([{ topic: 'Bookings_V1', partition: 1, offset: 9, reason: expect.stringContaining('kafka.topic_channels') }]);
      expect(world.sender.posts).toHaveLength(0);
    });

    it('posts a valid notification frame stamped with the acceptance time', async () => {
      await world.connect('alice-1', 'alice');
      const messageId = '6f1c1f3e-2a55-4f0b-9d3a-1b2c3d4e5f60';

      await world.service().fanOut([sourceRecord({ targetUserId: 'alice', messageId })]);

      const frame = world.sender.framesTo('alice-1')[0];
      expect(notificationFrame.safeParse(frame).success).toBe(true);
      expect(frame).toMatchObject({ messageId, timestamp: NOW.toISOString(), payload: { title: 'Booking Confirmed' } });
    });

    it('derives the messageId from the target and notificationId when the record names none: a retry at another offset is a duplicate', async () => {
      await world.connect('alice-1', 'alice');
      const first = sourceRecord({ targetUserId: 'alice' }, { topic: TOPIC, partition: 2, offset: 41 }) as ReadableRecord;
      const retry = { ...first, offset: 42 };

      const { summary } = await world.service().fanOut([first, retry]);

      const expected = messageIdOf(first.record, { kind: 'user', userId: 'alice' });
      expect(world.sender.framesTo('alice-1').map((frame) => frame.messageId)).toEqual([expected]);
      expect(summary.duplicates).toBe(1);
    });
  });

  describe('fanOut: invalid records', () => {
    it('reports unreadable records with their reason and delivers the rest of the batch', async () => {
      await world.connect('alice-1', 'alice');
      const records: SourceRecord[] = [
        { topic: TOPIC, partition: 0, offset: 1, reason: 'value is not JSON: Unexpected token' },
        sourceRecord({ targetUserId: 'alice' }, { offset: 2 }),
        { topic: TOPIC, partition: 0, offset: 3, reason: 'value is not a producer record: payload.priority: Invalid option' },
        sourceRecord({ targetUserId: 'alice' }, { offset: 4 }),
      ];

      const { summary, failedRecords } = await world.service().fanOut(records);

      expect(summary.invalid).toEqual([
        { topic: TOPIC, partition: 0, offset: 1, reason: 'value is not JSON: Unexpected token' },
        { topic: TOPIC, partition: 0, offset: 3, reason: 'value is not a producer record: payload.priority: Invalid option' },
      ]);
      expect(failedRecords).toEqual([]);
      expect(world.sender.framesTo('alice-1')).toHaveLength(2);
      expect(summary).toMatchObject({ records: 4, delivered: 2 });
    });
  });

  describe('fanOut: gone connections', () => {
    it('removes the connection that answered 410, and only that one, with its subscriptions', async () => {
      // Prepare
      await world.connect('alice-live', 'alice', ['booking-updates']);
      await world.connect('alice-dead', 'alice', ['booking-updates']);
      world.sender.gone.add('alice-dead');

      // Act
      const { summary } = await world.service().fanOut([sourceRecord({ targetUserId: 'alice' })]);

      // Assess
      expect(summary).toMatchObject({ targets: 2, delivered: 1, gone: 1, failed: 0 });
      expect(await world.connections.get('alice-dead')).toBeUndefined();
      expect(await world.connections.get('alice-live')).toBeDefined();
      const subscribers: ConnectionRef[] = [];
      for await (const page of world.subscriptions.listSubscribers('booking-updates')) subscribers.push(...page);
      expect(subscribers.map((ref) => ref.connectionId)).toEqual(['alice-live']);
    });

    it("keeps the notification in the user's inbox even when every connection is gone", async () => {
      await world.connect('alice-dead', 'alice');
      world.sender.gone.add('alice-dead');
      const messageId = 'a0a0a0a0-1111-4222-8333-444455556666';

      await world.service().fanOut([sourceRecord({ targetUserId: 'alice', messageId })]);

      const kept = await world.notifications.readSince([{ kind: 'user', userId: 'alice' }], '2000-01-01T00:00:00.000Z', 10);
      expect(kept.notifications.map((notification) => notification.messageId)).toEqual([messageId]);
    });
  });

  describe('fanOut: retries', () => {
    it('retries throttled and transient posts with backoff until they succeed', async () => {
      await world.connect('alice-1', 'alice');
      world.sender.faults.set('alice-1', [new ThrottledError('429'), new TransientError('503')]);

      const { summary } = await world.service({ retry: { attempts: 3, baseDelayMs: 100, maxDelayMs: 1000 } }).fanOut([sourceRecord({ targetUserId: 'alice' })]);

      expect(summary).toMatchObject({ delivered: 1, failed: 0 });
      expect(world.sender.attempts.get('alice-1')).toBe(3);
      // Full jitter with random() = 0.5: half of 100, then half of 200.
      expect(world.sleeps).toEqual([50, 100]);
    });

    it('counts a post as failed once its attempts are spent, and delivers to the others', async () => {
      await world.connect('alice-1', 'alice');
      await world.connect('alice-2', 'alice');
      world.sender.faults.set('alice-1', [new TransientError('503'), new TransientError('503'), new TransientError('503')]);

      const { summary } = await world.service({ retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 } }).fanOut([sourceRecord({ targetUserId: 'alice' })]);

      expect(summary).toMatchObject({ targets: 2, delivered: 1, failed: 1, gone: 0 });
      expect(world.sender.attempts.get('alice-1')).toBe(3);
      expect(await world.connections.get('alice-1')).toBeDefined();
    });

    it('does not retry a failure that is neither throttling nor transient', async () => {
      await world.connect('alice-1', 'alice');
      world.sender.faults.set('alice-1', [new Error('403 Forbidden')]);

      const { summary } = await world.service().fanOut([sourceRecord({ targetUserId: 'alice' })]);

      expect(summary.failed).toBe(1);
      expect(world.sender.attempts.get('alice-1')).toBe(1);
    });
  });

  describe('fanOut: concurrency', () => {
    it('never has more than `concurrency` posts in flight, and uses that many', async () => {
      for (let index = 0; index < 25; index += 1) await world.connect(`c${String(index).padStart(2, '0')}`, `u${index}`, ['busy']);

      const { summary } = await world.service({ concurrency: 3 }).fanOut([sourceRecord({ channel: 'busy' })]);

      expect(summary.delivered).toBe(25);
      expect(world.sender.maxInFlight).toBe(3);
    });
  });

  describe('fanOut: history', () => {
    it('keeps the notification on its stream, with the history TTL, before the first post', async () => {
      // Prepare: a ledger that notes what begin stores.
      await world.connect('sub', 'dave', ['booking-updates']);
      const timeline: string[] = [];
      const begun: Array<{ notification: StoredNotification; streams: readonly Target[]; ttlSeconds: number }> = [];
      const inner = world.ledger;
      const noting = withOverrides(inner, {
        begin: async (...args: Parameters<DeliveryLedger['begin']>) => {
          const [notification, streams, , ttlSeconds] = args;
          timeline.push('begin');
          begun.push({ notification, streams, ttlSeconds });
          return inner.begin(...args);
        },
      });
      world.sender.onPost = () => timeline.push('post');

      // Act
      await world.service({ ledger: noting, historyTtlSeconds: 604800 }).fanOut([sourceRecord({ channel: 'booking-updates' })]);

      // Assess
      expect(timeline).toEqual(['begin', 'post']);
      expect(begun[0]!.streams).toEqual([{ kind: 'channel', channel: 'booking-updates' }]);
      expect(begun[0]!.ttlSeconds).toBe(604800);
      expect(begun[0]!.notification.acceptedAt).toBe(NOW.toISOString());
      expect(begun[0]!.notification.frame).toEqual(world.sender.posts[0]!.frame);
      const kept = await world.notifications.readSince([{ kind: 'channel', channel: 'booking-updates' }], '2000-01-01T00:00:00.000Z', 10);
      expect(kept.notifications).toHaveLength(1);
    });

    it.each([
      ['a user', { targetUserId: 'alice' }, { kind: 'user', userId: 'alice' }],
      ['a channel', { channel: 'waitlist-notifications' }, { kind: 'channel', channel: 'waitlist-notifications' }],
      ['everyone', { broadcast: true }, { kind: 'broadcast' }],
    ])('keeps a notification for %s on that stream for recover', async (_label, fields, stream) => {
      const messageId = 'b1b1b1b1-1111-4222-8333-444455556666';

      await world.service().fanOut([sourceRecord({ ...fields, messageId })]);

      const kept = await world.notifications.readSince([stream as Target], '2000-01-01T00:00:00.000Z', 10);
      expect(kept.notifications.map((notification) => notification.messageId)).toEqual([messageId]);
    });
  });

  describe('fanOut: duplicates', () => {
    it('delivers a messageId that appears twice in one batch once', async () => {
      await world.connect('alice-1', 'alice');
      const messageId = 'c2c2c2c2-1111-4222-8333-444455556666';

      const { summary } = await world
        .service()
        .fanOut([sourceRecord({ targetUserId: 'alice', messageId }), sourceRecord({ targetUserId: 'alice', messageId })]);

      expect(world.sender.framesTo('alice-1')).toHaveLength(1);
      expect(summary).toMatchObject({ records: 2, delivered: 1, duplicates: 1 });
    });

    it('delivers a messageId seen in an earlier invocation no more', async () => {
      await world.connect('alice-1', 'alice');
      const messageId = 'd3d3d3d3-1111-4222-8333-444455556666';
      await world.service().fanOut([sourceRecord({ targetUserId: 'alice', messageId })]);

      const { summary } = await world.service().fanOut([sourceRecord({ targetUserId: 'alice', messageId })]);

      expect(world.sender.framesTo('alice-1')).toHaveLength(1);
      expect(summary).toMatchObject({ delivered: 0, duplicates: 1, targets: 0 });
    });

    it('recognises a redelivered record without messageId by its position', async () => {
      await world.connect('alice-1', 'alice');
      const position = { topic: TOPIC, partition: 0, offset: 500 };
      await world.service().fanOut([sourceRecord({ targetUserId: 'alice' }, position)]);

      const { summary } = await world.service().fanOut([sourceRecord({ targetUserId: 'alice' }, position)]);

      expect(world.sender.framesTo('alice-1')).toHaveLength(1);
      expect(summary.duplicates).toBe(1);
    });
  });

  describe('fanOut: unexpected failures', () => {
    it('reports the first failing record of a partition, leaves the rest of it for redelivery, and goes on with other partitions', async () => {
      // Prepare: the ledger fails once.
      await world.connect('alice-1', 'alice');
      let failures = 1;
      const inner = world.ledger;
      const flaky = withOverrides(inner, {
        begin: async (...args: Parameters<DeliveryLedger['begin']>) => {
          if (failures-- > 0) throw new Error('store unavailable');
          return inner.begin(...args);
        },
      });
      const batch = [
        sourceRecord({ targetUserId: 'alice' }, { partition: 0, offset: 10 }),
        sourceRecord({ targetUserId: 'alice' }, { partition: 0, offset: 11 }),
        sourceRecord({ targetUserId: 'alice' }, { partition: 1, offset: 7 }),
      ];

      // Act
      const { summary, failedRecords } = await world.service({ ledger: flaky }).fanOut(batch);

      // Assess
      expect(failedRecords).toEqual([{ topic: TOPIC, partition: 0, offset: 10, error: 'Error: store unavailable' }]);
      expect(summary).toMatchObject({ records: 3, delivered: 1 });
      expect(world.sender.framesTo('alice-1')).toHaveLength(1);

      // The key of the failed record was released: its redelivery goes through.
      const retry = await world.service({ ledger: flaky }).fanOut(batch.slice(0, 2));
      expect(retry.failedRecords).toEqual([]);
      expect(retry.summary).toMatchObject({ delivered: 2, duplicates: 0 });
    });
  });

  describe('publish', () => {
    it('delivers a notification that names its target, without a Kafka position', async () => {
      await world.connect('alice-1', 'alice');

      const outcome = await world.service().publish(
        producerRecord.parse({
          type: 'notification',
          targetUserId: 'alice',
          payload: { notificationId: 'n', title: 't', message: 'm', priority: 'high', createdAt: '2024-01-01T00:00:00Z' },
        }),
      );

      expect(outcome).toMatchObject({ status: 'delivered', target: { kind: 'user', userId: 'alice' }, delivered: 1 });
      expect(world.sender.framesTo('alice-1')[0]!.messageId).toBe(outcome.messageId);
    });

    it('refuses a notification that names no target', async () => {
      const record = producerRecord.parse({
        type: 'notification',
        payload: { notificationId: 'n', title: 't', message: 'm', priority: 'low', createdAt: '2024-01-01T00:00:00Z' },
      });

      await expect(world.service().publish(record)).rejects.toThrow(/names no target/);
    });
  });
});

describe('FanoutService: what is never posted twice', () => {
  let world: World;
  beforeEach(() => {
    world = createWorld();
  });

  it('never posts again a post whose outcome is unknown: it is in doubt, counted, not dead-lettered, and recoverable', async () => {
    // Prepare: the post to alice-1 may have reached her socket (a timeout after it was written).
    await world.connect('alice-1', 'alice');
    world.sender.faults.set('alice-1', [new PostInDoubtError('alice-1')]);

    // Act
    const { summary } = await world.service().fanOut([sourceRecord({ targetUserId: 'alice' })]);

    // Assess
    expect(world.sender.attempts.get('alice-1')).toBe(1);
    expect(summary).toMatchObject({ targets: 1, delivered: 0, inDoubt: 1, failed: 0, retried: 0, deadLettered: 0 });
    expect(world.deadLetters.letters).toEqual([]);
    const kept = await world.notifications.readSince([{ kind: 'user', userId: 'alice' }], '2000-01-01T00:00:00.000Z', 10);
    expect(kept.notifications).toHaveLength(1);
  });

  it('starts no attempt that could end after the lease, and hands the targets it never attempted to the retry, which posts them', async () => {
    // Prepare: each post takes 300 ms of a fake clock; the lease is 1 s.
    for (let index = 0; index < 6; index += 1) await world.connect(`c${index}`, `u${index}`, ['slow']);
    let nowMs = NOW.getTime();
    const deadlines: number[] = [];
    const slow: MessageSender = {
      post: async (connectionId, data, options) => {
        deadlines.push(nowMs + (options?.timeoutMs ?? Number.POSITIVE_INFINITY));
        nowMs += 300;
        await world.sender.post(connectionId, data);
      },
      close: async () => {},
    };
    const clock = { now: () => new Date(nowMs) };
    // A lease that cannot be renewed (another run is about to take it).
    const stuck = withOverrides(world.ledger, { extend: async () => false });
    const batch = [sourceRecord({ channel: 'slow' })];

    // Act
    const first = await world.service({ sender: slow, ledger: stuck, clock, leaseMs: 1000, concurrency: 1, reserveMs: 0 }).fanOut(batch);
    const attempted = deadlines.length;
    const retry = await world.service({ clock }).fanOut(batch);

    // Assess: every attempt's deadline is inside the lease (less its margin); what did not
    // fit was never attempted, so it is not in doubt: the retry took the entry over at once
    // and posted exactly those, each connection once.
    const fence = NOW.getTime() + 1000 - LEASE_MARGIN_MS;
    expect(attempted).toBeGreaterThan(0);
    expect(attempted).toBeLessThan(6);
    expect(Math.max(...deadlines)).toBeLessThanOrEqual(fence);
    expect(first.failedRecords).toEqual([expect.objectContaining({ error: expect.stringContaining('not attempted yet') })]);
    expect(retry.failedRecords).toEqual([]);
    // The retry's counts are the whole notification's: the first run's handed over, and its own.
    expect(retry.summary).toMatchObject({ targets: 6, delivered: 6, inDoubt: 0 });
    expect(world.sender.posts).toHaveLength(6);
    const perConnection = new Map<string, number>();
    for (const post of world.sender.posts) perConnection.set(post.connectionId, (perConnection.get(post.connectionId) ?? 0) + 1);
    expect([...perConnection.values()]).toEqual([1, 1, 1, 1, 1, 1]);
  });

  it('posts a taken-over delivery again only to connections that drop duplicates by position; the others are in doubt', async () => {
    // Prepare: two connections of dora, one of them an SDK that said `?dedupe=1`.
    await world.connect('dora-raw', 'dora');
    await world.connections.open(
      { connectionId: 'dora-sdk', userId: 'dora', roles: [], connectedAt: NOW.toISOString(), lastSeenAt: NOW.toISOString(), channels: [], dedupe: true },
      { limit: 10, staleBefore: '2000-01-01T00:00:00.000Z' },
    );
    let nowMs = NOW.getTime();
    const clock = { now: () => new Date(nowMs) };
    // The first run dies after storing it, before its first post: no write of its lands after that.
    const dying = withOverrides(world.ledger, {
      giveUp: async () => {
        throw new Error('the process died');
      },
      finish: async () => {
        throw new Error('the process died');
      },
    });
    const crashing: MessageSender = {
      post: async () => {
        throw new Error('the process died');
      },
      close: async () => {},
    };
    const batch = [sourceRecord({ targetUserId: 'dora', messageId: '99999999-9999-4999-8999-999999999999' })];
    await world.service({ ledger: dying, sender: crashing, clock, leaseMs: 2_000 }).fanOut(batch);
    expect(world.sender.posts).toHaveLength(0);

    // Act: the redelivery after the lease ended.
    nowMs += 3_000;
    const late = await world.service({ clock }).fanOut(batch);

    // Assess
    expect(late.summary).toMatchObject({ targets: 2, delivered: 1, inDoubt: 1 });
    expect(world.sender.posts.map((post) => post.connectionId)).toEqual(['dora-sdk']);
  });

  it('gives an offset up when it stalled past the lease between taking it and storing the notification: the retry stores it afresh', async () => {
    // Prepare: the first run stalls for 5 s inside its store round trip, with a 2 s lease:
    // recovery may already have passed over the empty offset.
    await world.connect('erin-1', 'erin');
    let nowMs = NOW.getTime();
    const clock = { now: () => new Date(nowMs) };
    const stalling = withOverrides(world.ledger, {
      begin: async (...args: Parameters<DeliveryLedger['begin']>) => {
        nowMs += 5_000;
        return world.ledger.begin(...args);
      },
    });
    const batch = [sourceRecord({ targetUserId: 'erin', messageId: 'aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa' })];

    // Act
    const first = await world.service({ ledger: stalling, clock, leaseMs: 2_000 }).fanOut(batch);
    const retry = await world.service({ clock, leaseMs: 2_000 }).fanOut(batch);

    // Assess: nothing posted by the late run; its offset keeps a tombstone (a client may stand
    // past it already, so it is never reused); the retry posted once, at the next offset, kept once.
    expect(first.failedRecords).toEqual([expect.objectContaining({ error: expect.stringContaining('too late') })]);
    expect(retry.failedRecords).toEqual([]);
    expect(retry.summary).toMatchObject({ delivered: 1 });
    expect(world.sender.framesTo('erin-1')).toEqual([expect.objectContaining({ stream: 'user#erin', offset: 2 })]);
    const slice = await world.notifications.readFrom('user#erin', (world.sender.framesTo('erin-1')[0] as { epoch: string }).epoch, 1, 10, nowMs);
    expect([...slice.skipped]).toEqual([1]);
    const kept = await world.notifications.readSince([{ kind: 'user', userId: 'erin' }], '2000-01-01T00:00:00.000Z', 10);
    expect(kept.notifications).toHaveLength(1);
  });

  it('gives its lease up when it fails after posting may have begun, so the redelivery takes over at once', async () => {
    // Prepare: the first run posts, then its done mark fails (a store error after its retries).
    await world.connect('carol-1', 'carol');
    const clock = { now: () => NOW };
    const failing = withOverrides(world.ledger, {
      finish: async () => {
        throw new Error('throttled for good');
      },
    });
    const batch = [sourceRecord({ targetUserId: 'carol', messageId: '88888888-8888-4888-8888-888888888888' })];
    const first = await world.service({ ledger: failing, clock, leaseMs: 30_000 }).fanOut(batch);

    // Act: Kafka redelivers at once, well within the lease the first run took.
    const retry = await world.service({ clock }).fanOut(batch);

    // Assess: no DeliveryInProgressError: the retry took it over and finished it, posting nothing twice.
    expect(first.failedRecords).toHaveLength(1);
    expect(retry.failedRecords).toEqual([]);
    expect(retry.summary).toMatchObject({ targets: 1, delivered: 0, inDoubt: 1 });
    expect(world.sender.posts).toHaveLength(1);
    expect(await world.ledger.get('88888888-8888-4888-8888-888888888888')).toMatchObject({ status: 'done' });
  });

  it('takes over a delivery whose run died mid-way once its lease ended: its audience in doubt, nothing posted twice', async () => {
    // Prepare: the first run posts, then dies before marking the notification done.
    await world.connect('bob-1', 'bob');
    await world.connect('bob-2', 'bob');
    let nowMs = NOW.getTime();
    const clock = { now: () => new Date(nowMs) };
    // A dead process writes nothing more: neither its done mark nor the release of its lease.
    const dying = withOverrides(world.ledger, {
      finish: async () => {
        throw new Error('the process died');
      },
      giveUp: async () => {
        throw new Error('the process died');
      },
    });
    const batch = [sourceRecord({ targetUserId: 'bob', messageId: '77777777-7777-4777-8777-777777777777' })];
    const first = await world.service({ ledger: dying, clock, leaseMs: 30_000 }).fanOut(batch);

    // Act: Kafka redelivers at once (the lease still holds), then after the lease.
    const early = await world.service({ clock }).fanOut(batch);
    nowMs += 31_000;
    const late = await world.service({ clock }).fanOut(batch);
    const again = await world.service({ clock }).fanOut(batch);

    // Assess
    expect(first.failedRecords).toHaveLength(1);
    expect(world.sender.posts).toHaveLength(2);
    expect(early.failedRecords).toEqual([expect.objectContaining({ error: expect.stringContaining('DeliveryInProgressError') })]);
    expect(late.failedRecords).toEqual([]);
    expect(late.summary).toMatchObject({ targets: 2, delivered: 0, inDoubt: 2 });
    expect(again.summary).toMatchObject({ duplicates: 1 });
    expect(world.sender.posts).toHaveLength(2);
    const kept = await world.notifications.readSince([{ kind: 'user', userId: 'bob' }], '2000-01-01T00:00:00.000Z', 10);
    expect(kept.notifications.map((notification) => notification.frame.timestamp)).toEqual([NOW.toISOString()]);
  });
});
