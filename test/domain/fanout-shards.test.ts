import { describe, expect, it } from 'vitest';
import { MemoryDeadLetterSink } from '../../lambdas/adapters/memory/dead-letter-sink.js';
import { MemoryDeliveryProgressStore } from '../../lambdas/adapters/memory/delivery-progress-store.js';
import { MemoryConnectionStore, MemoryNotificationLog, MemoryState, MemorySubscriptionStore } from '../../lambdas/adapters/memory/index.js';
import { ConnectionGoneError, ThrottledError, TransientError } from '../../lambdas/domain/errors.js';
import type { SourceRecord } from '../../lambdas/domain/fanout/source-record.js';
import { wireFanout, wireShardWorker, type FanoutSettings } from '../../lambdas/fanout-wiring.js';
import type { ShardRequest } from '../../lambdas/domain/fanout/shard-plan.js';
import type { ShardWorker } from '../../lambdas/domain/fanout/shard-worker.js';
import type { DeliveryProgressStore, Log, MessageSender, ShardDispatcher, TimeBudget } from '../../lambdas/domain/ports.js';
import { producerRecord } from '../../protocol/records.js';
import { MemoryDeliveryLedger } from '../../lambdas/adapters/memory/delivery-ledger.js';
import { withOverrides } from '../support/overrides.js';

const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };
const NOW = new Date('2024-06-01T12:00:00.000Z');
const CHANNEL = 'waitlist-notifications';

/** Records every accepted post; a post can be made to fail or to crash the process. */
class CountingSender implements MessageSender {
  readonly accepted = new Map<string, string[]>();
  readonly gone = new Set<string>();
  readonly faults = new Map<string, Error[]>();
  async post(connectionId: string, data: string): Promise<void> {
    await new Promise((resolve) => setImmediate(resolve));
    if (this.gone.has(connectionId)) throw new ConnectionGoneError(connectionId);
    const fault = this.faults.get(connectionId)?.shift();
    if (fault) throw fault;
    const list = this.accepted.get(connectionId) ?? [];
    list.push((JSON.parse(data) as { messageId: string }).messageId);
    this.accepted.set(connectionId, list);
  }
  async close(): Promise<void> {}
  total(): number {
    return [...this.accepted.values()].reduce((sum, list) => sum + list.length, 0);
  }
}

/** Asynchronous invokes, in memory: each dispatch runs a worker in the background. */
class BackgroundDispatcher implements ShardDispatcher {
  readonly dispatched: ShardRequest[] = [];
  readonly running = new Set<Promise<unknown>>();
  worker?: ShardWorker;
  /** Dispatches to drop (an invocation Lambda lost), by count. */
  drop = 0;
  async dispatch(request: ShardRequest): Promise<void> {
    this.dispatched.push(request);
    if (this.drop > 0) {
      this.drop -= 1;
      return;
    }
    const run = this.worker!.run(request, { remainingMs: () => 60_000 });
    this.running.add(run);
    void run.finally(() => this.running.delete(run));
  }
}

function world(connectionCount: number) {
  const state = new MemoryState();
  const connections = new MemoryConnectionStore(state, { pageSize: 7 });
  const subscriptions = new MemorySubscriptionStore(state, { pageSize: 7 });
  const notifications = new MemoryNotificationLog(state);
  const sender = new CountingSender();
  const progress = new MemoryDeliveryProgressStore();
  const deadLetters = new MemoryDeadLetterSink();
  const dispatcher = new BackgroundDispatcher();
  const ledger = new MemoryDeliveryLedger(state);
  let nowMs = NOW.getTime();
  const clock = { now: () => new Date(nowMs) };
  const options = (overrides: Partial<FanoutSettings> = {}): FanoutSettings => ({
    connections,
    subscriptions,
    notifications,
    sender,
    ledger,
    progress,
    deadLetters,
    dispatcher,
    clock,
    log: silentLog,
    concurrency: 5,
    chunkSize: 5,
    historyTtlSeconds: 3600,
    shardSize: 20,
    redispatchAfterMs: 1000,
    // Polls and backoffs advance the fake clock instead of sleeping.
    sleep: async (ms) => {
      nowMs += ms;
      await new Promise((resolve) => setImmediate(resolve));
    },
    random: () => 0.5,
    reserveMs: 0,
    ...overrides,
  });
  dispatcher.worker = wireShardWorker({ ...options(), progress, dispatcher: undefined });
  const ids: string[] = [];
  const ready = (async () => {
    for (let index = 0; index < connectionCount; index += 1) {
      const connectionId = `c${String(index).padStart(3, '0')}`;
      ids.push(connectionId);
      await connections.open(
        { connectionId, userId: `u${index}`, roles: [], connectedAt: NOW.toISOString(), lastSeenAt: NOW.toISOString(), channels: [CHANNEL] },
        { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
      );
    }
  })();
  return { ready, ids, sender, progress, deadLetters, dispatcher, notifications, options, advance: (ms: number) => (nowMs += ms) };
}

let offset = 0;
function record(messageId: string, fields: Record<string, unknown> = { channel: CHANNEL }): SourceRecord {
  return {
    topic: 'booking-updates',
    partition: 0,
    offset: offset++,
    record: producerRecord.parse({
      messageId,
      type: 'notification',
      payload: { notificationId: 'n', title: 't', message: 'm', priority: 'low', createdAt: '2024-01-01T00:00:00Z' },
      ...fields,
    }),
  };
}

const MESSAGE_1 = '11111111-1111-4111-8111-111111111111';
const MESSAGE_2 = '22222222-2222-4222-8222-222222222222';

describe('FanoutService with shards', () => {
  describe('large audiences', () => {
    it('splits an audience larger than shard_size into shards that workers deliver in parallel, each connection once', async () => {
      // Prepare
      const w = world(95);
      await w.ready;

      // Act
      const { summary, failedRecords } = await wireFanout(w.options()).fanOut([record(MESSAGE_1)]);

      // Assess
      expect(failedRecords).toEqual([]);
      expect(w.dispatcher.dispatched.map((request) => request.index).sort()).toEqual([0, 1, 2, 3, 4]);
      expect(summary).toMatchObject({ targets: 95, delivered: 95, gone: 0, failed: 0, inDoubt: 0 });
      expect(w.sender.total()).toBe(95);
      expect(w.ids.every((id) => w.sender.accepted.get(id)?.length === 1)).toBe(true);
    });

    it('delivers an audience up to shard_size in the fan-out itself, without workers', async () => {
      const w = world(20);
      await w.ready;

      const { summary } = await wireFanout(w.options()).fanOut([record(MESSAGE_1)]);

      expect(w.dispatcher.dispatched).toEqual([]);
      expect(summary).toMatchObject({ targets: 20, delivered: 20 });
    });

    it('keeps per-connection order: the next record of the partition starts only when every shard of the previous is done', async () => {
      const w = world(60);
      await w.ready;

      await wireFanout(w.options()).fanOut([record(MESSAGE_1), record(MESSAGE_2)]);

      for (const id of w.ids) expect(w.sender.accepted.get(id)).toEqual([MESSAGE_1, MESSAGE_2]);
    });

    it('dispatches a shard again when its invocation was lost, and the new run delivers it', async () => {
      const w = world(60);
      await w.ready;
      w.dispatcher.drop = 1;

      const { summary } = await wireFanout(w.options()).fanOut([record(MESSAGE_1)]);

      expect(summary).toMatchObject({ targets: 60, delivered: 60 });
      expect(w.dispatcher.dispatched).toHaveLength(4);
      expect(w.sender.total()).toBe(60);
    });

    it('reports the record for redelivery when time runs out, and the redelivery resumes the plan without posting twice', async () => {
      // Prepare: workers never start (every dispatch is lost) and the budget is short.
      const w = world(60);
      await w.ready;
      w.dispatcher.drop = 1_000;
      let remaining = 3000;
      const budget: TimeBudget = { remainingMs: () => (remaining -= 100) };
      const batch = [record(MESSAGE_1)];

      // Act
      const first = await wireFanout(w.options()).fanOut(batch, budget);
      w.dispatcher.drop = 0;
      const second = await wireFanout(w.options()).fanOut(batch);

      // Assess
      expect(first.failedRecords).toEqual([expect.objectContaining({ error: expect.stringContaining('DeliveryInProgressError') })]);
      expect(second.failedRecords).toEqual([]);
      expect(second.summary).toMatchObject({ targets: 60, delivered: 60 });
      expect(w.ids.every((id) => w.sender.accepted.get(id)?.length === 1)).toBe(true);
      // One plan: the redelivery found it rather than making another.
      expect(new Set(w.dispatcher.dispatched.map((request) => request.planId)).size).toBe(1);
    });
  });

  describe('a worker crash', () => {
    it('resumes the shard after the lease ends, skipping the chunk in doubt, posting nothing twice', async () => {
      // Prepare: a plan of one shard of 20 in chunks of 5, and a run that dies right after
      // the write that completes its first chunk and claims the second.
      const w = world(20);
      await w.ready;
      const service = wireFanout({ ...w.options(), dispatcher: undefined });
      const progress = w.progress;
      const dying = withOverrides(progress, {
        complete: async (...args: Parameters<DeliveryProgressStore['complete']>) => {
          const completed = await progress.complete(...args);
          if (args[6] !== undefined) throw new Error('process died');
          return completed;
        },
      });
      const crashing = wireFanout({ ...w.options(), dispatcher: undefined, progress: dying });

      // Act
      const crashed = await crashing.fanOut([record(MESSAGE_1)]);
      w.advance(120_000);
      const resumed = await service.fanOut([record(MESSAGE_1)]);

      // Assess: chunk 1 (5 posts) went out; chunk 2 is in doubt; chunks 3 and 4 go out on resume.
      expect(crashed.failedRecords).toHaveLength(1);
      expect(resumed.summary).toMatchObject({ targets: 20, delivered: 15, inDoubt: 5 });
      expect(w.sender.total()).toBe(15);
      expect([...w.sender.accepted.values()].every((list) => list.length === 1)).toBe(true);
      // The skipped five can recover it: it is in the channel's history.
      const kept = await w.notifications.readSince([{ kind: 'channel', channel: CHANNEL }], '2000-01-01T00:00:00.000Z', 10);
      expect(kept.notifications.map((notification) => notification.messageId)).toEqual([MESSAGE_1]);
    });

    it('leaves a shard alone while another run holds its lease', async () => {
      const w = world(20);
      await w.ready;
      await wireFanout({ ...w.options(), dispatcher: undefined, progress: w.progress }).fanOut([]); // no-op
      const job = {
        messageId: MESSAGE_1,
        planId: '33333333-3333-4333-8333-333333333333',
        data: '{}',
        shardCount: 1,
        targetCount: 20,
        plannedAt: NOW.toISOString(),
        postsPerSecond: 0,
      };
      await w.progress.createJob(job, [w.ids.map((connectionId) => ({ connectionId, userId: 'u' }))], 60);
      const key = { messageId: MESSAGE_1, planId: job.planId, index: 0 };
      await w.progress.acquire(key, 'someone-else', NOW.getTime() + 60_000, NOW.getTime());

      const outcome = await w.dispatcher.worker!.run(key, { remainingMs: () => 60_000 });

      expect(outcome.status).toBe('busy');
      expect(w.sender.total()).toBe(0);
    });
  });

  describe('failures and dead letters', () => {
    it('dead-letters each post that failed for good, with what, to whom and why', async () => {
      const w = world(3);
      await w.ready;
      w.sender.faults.set(
        'c001',
        Array.from({ length: 10 }, () => new TransientError('HTTP 500')),
      );

      const { summary } = await wireFanout(w.options({ retry: { attempts: 3, baseDelayMs: 10, maxDelayMs: 10 } })).fanOut([record(MESSAGE_1)]);

      expect(summary).toMatchObject({ delivered: 2, failed: 1, deadLettered: 1, retried: 2 });
      expect(w.deadLetters.letters).toEqual([
        { kind: 'post', messageId: MESSAGE_1, connectionId: 'c001', userId: 'u1', attempts: 3, reason: 'TransientError: HTTP 500', at: expect.any(String) },
      ]);
    });

    it('dead-letters an unreadable record with its reason and value, and goes on with the partition', async () => {
      const w = world(2);
      await w.ready;
      const unreadable: SourceRecord = { topic: 'booking-updates', partition: 0, offset: 900, reason: 'value is not JSON', value: '{oops' };

      const { summary, failedRecords } = await wireFanout(w.options()).fanOut([unreadable, record(MESSAGE_1)]);

      expect(failedRecords).toEqual([]);
      expect(summary).toMatchObject({
        delivered: 2,
        deadLettered: 1,
        invalid: [{ topic: 'booking-updates', partition: 0, offset: 900, reason: 'value is not JSON' }],
      });
      expect(w.deadLetters.letters).toEqual([
        { kind: 'record', topic: 'booking-updates', partition: 0, offset: 900, reason: 'value is not JSON', value: '{oops', at: NOW.toISOString() },
      ]);
    });

    it('stops retrying a throttled post when the invocation has no time left for another attempt', async () => {
      const w = world(1);
      await w.ready;
      w.sender.faults.set(
        'c000',
        Array.from({ length: 10 }, () => new ThrottledError('429')),
      );
      // 10 s left, and a backoff ceiling of 20 s: the first retry would not fit.
      const budget: TimeBudget = { remainingMs: () => 10_000 };

      const { summary } = await wireFanout(w.options({ retry: { attempts: 10, baseDelayMs: 40_000, maxDelayMs: 40_000 }, reserveMs: 1000 })).fanOut(
        [record(MESSAGE_1)],
        budget,
      );

      expect(summary).toMatchObject({ failed: 1, throttled: 1, retried: 0, deadLettered: 1 });
    });

    it('retries DynamoDB throttling of the progress store within the budget', async () => {
      const w = world(5);
      await w.ready;
      const progress = w.progress;
      let throttles = 2;
      const throttling = withOverrides(progress, {
        claim: async (...args: Parameters<DeliveryProgressStore['claim']>) => {
          if (throttles-- > 0) throw new ThrottledError('DynamoDB throttled UpdateItem');
          return progress.claim(...args);
        },
      });

      const { summary, failedRecords } = await wireFanout(w.options({ progress: throttling })).fanOut([record(MESSAGE_1)]);

      expect(failedRecords).toEqual([]);
      expect(summary).toMatchObject({ delivered: 5 });
    });

    it('removes a gone connection (410) and counts it, never retrying it', async () => {
      const w = world(30);
      await w.ready;
      w.sender.gone.add('c025');

      const { summary } = await wireFanout(w.options()).fanOut([record(MESSAGE_1)]);

      expect(summary).toMatchObject({ targets: 30, delivered: 29, gone: 1 });
    });
  });
});
