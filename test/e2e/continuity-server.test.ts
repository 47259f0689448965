import { DeleteCommand, GetCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoDbNotificationLog } from '../../lambdas/adapters/dynamodb/notification-log.js';
import type { NotificationFrame, ServerFrame } from '../../protocol/frames.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken, TestClient } from '../support/ws-client.js';

/**
 * Stream positions as a raw client sees them (docs/protocol.md section 11): the local
 * runtime, DynamoDB Local, real sockets over loopback.
 */
describe('continuity: stream positions, heads and recover by positions', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];
  const SETTLE_SECONDS = 2;

  beforeAll(async () => {
    runtime = await startTestRuntime({
      websocket: { rate_limit_per_second: 50, rate_limit_burst: 100 },
      kafka: { topics: ['booking-updates'] },
      delivery: { lease_seconds: SETTLE_SECONDS },
    });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  const connect = async (userId: string) => {
    const opened = await TestClient.connect(runtime.wsUrl, userId);
    clients.push(opened.client);
    const welcome = opened.client.frames.find((frame) => frame.type === 'welcome')!;
    return { ...opened, welcome: welcome.payload as { streams?: Record<string, { epoch: string; offset: number }> } };
  };
  const toUser = (userId: string, count: number) =>
    Array.from({ length: count }, (_, index) => notificationRecord({ targetUserId: userId }, { title: `n${index + 1}` }));
  const offsets = (frames: ServerFrame[]) => frames.map((frame) => (frame as { offset?: number }).offset);
  const recover = (client: TestClient, streams: Record<string, { epoch: string; offset: number }>) => client.request('recover', { streams });

  it('puts every notification at a contiguous offset of its stream, and tells the heads in welcome and heartbeat', async () => {
    const { client, welcome } = await connect('pos-alice');
    expect(welcome.streams).toEqual({
      'user#pos-alice': { epoch: '', offset: 0 },
      broadcast: expect.objectContaining({ offset: expect.any(Number) }),
      'channel#system-announcements': expect.objectContaining({ offset: expect.any(Number) }),
      'channel#user-pos-alice': { epoch: '', offset: 0 },
    });

    expect((await runtime.publish('booking-updates', toUser('pos-alice', 3))).status).toBe(200);
    await vi.waitFor(() => expect(client.notifications()).toHaveLength(3));
    const frames = client.notifications() as (ServerFrame & { stream: string; epoch: string; offset: number })[];
    expect(frames.map((frame) => frame.stream)).toEqual(['user#pos-alice', 'user#pos-alice', 'user#pos-alice']);
    expect(offsets(frames)).toEqual([1, 2, 3]);
    expect(new Set(frames.map((frame) => frame.epoch)).size).toBe(1);
    expect(frames[0]!.epoch).toMatch(/^\d{13}$/);

    const beat = await client.request('heartbeat', {});
    expect((beat.payload as { streams: Record<string, unknown> }).streams['user#pos-alice']).toEqual({ epoch: frames[0]!.epoch, offset: 3 });
  });

  it('replays by positions what a client missed, oldest first, a page of 100 at a time, and says where each stream stands', async () => {
    expect((await runtime.publish('booking-updates', toUser('pos-bob', 130))).status).toBe(200);
    const { client, welcome } = await connect('pos-bob');
    const head = welcome.streams!['user#pos-bob']!;
    expect(head.offset).toBe(130);

    const first = await recover(client, { 'user#pos-bob': { epoch: '', offset: 0 } });
    expect(first.payload).toEqual({ count: 100, complete: false, streams: { 'user#pos-bob': { epoch: head.epoch, offset: 100 } } });
    const second = await recover(client, { 'user#pos-bob': { epoch: head.epoch, offset: 100 } });
    expect(second.payload).toEqual({ count: 30, complete: true, streams: { 'user#pos-bob': { epoch: head.epoch, offset: 130 } } });

    const replayed = client.notifications() as (ServerFrame & { payload: { title: string } })[];
    expect(offsets(replayed)).toEqual(Array.from({ length: 130 }, (_, index) => index + 1));
    expect(replayed.map((frame) => frame.payload.title)).toEqual(Array.from({ length: 130 }, (_, index) => `n${index + 1}`));
  });

  it('gives back the offset a redelivered duplicate took: the next notification takes it, and no head runs ahead', async () => {
    const { client } = await connect('pos-carol');
    const [once] = toUser('pos-carol', 1);
    await runtime.publish('booking-updates', [once]);
    const again = await runtime.publish('booking-updates', [once]);
    expect(again.body).toMatchObject({ duplicates: 1 });
    await runtime.publish('booking-updates', toUser('pos-carol', 1));
    await vi.waitFor(() => expect(client.notifications()).toHaveLength(2));
    const [first, second] = client.notifications() as (ServerFrame & { epoch: string; offset: number })[];
    expect([first!.offset, second!.offset]).toEqual([1, 2]);

    const beat = await client.request('heartbeat', {});
    expect((beat.payload as { streams: Record<string, unknown> }).streams['user#pos-carol']).toEqual({ epoch: first!.epoch, offset: 2 });
  });

  it('passes at once over an offset given back after a later one was taken (its tombstone)', async () => {
    const { client } = await connect('pos-hana');
    const log = new DynamoDbNotificationLog({ client: runtime.tables.client, tables: runtime.tables.tables });
    await runtime.publish('booking-updates', toUser('pos-hana', 1));
    // A duplicate's run took offset 2, another took 3 before it could give 2 back.
    const duplicate = await log.takeOffset('user#pos-hana', Date.now(), 3600);
    const later = await log.takeOffset('user#pos-hana', Date.now(), 3600);
    await log.giveBack('user#pos-hana', duplicate, 3600);
    expect([duplicate.offset, later.offset]).toEqual([2, 3]);
    await log.giveBack('user#pos-hana', later, 3600);
    await runtime.publish('booking-updates', toUser('pos-hana', 1));
    await vi.waitFor(() => expect(client.notifications()).toHaveLength(2));
    expect(offsets(client.notifications())).toEqual([1, 3]);

    const answer = await recover(client, { 'user#pos-hana': { epoch: duplicate.epoch, offset: 1 } });

    expect(answer.payload).toEqual({ count: 1, complete: true, streams: { 'user#pos-hana': { epoch: duplicate.epoch, offset: 3 } } });
  });

  it("never replays a redelivery's leftover: an item at another offset than its ledger entry's", async () => {
    const { client } = await connect('pos-ivan');
    const log = new DynamoDbNotificationLog({ client: runtime.tables.client, tables: runtime.tables.tables });
    const [original] = toUser('pos-ivan', 1);
    await runtime.publish('booking-updates', [original]);
    await vi.waitFor(() => expect(client.notifications()).toHaveLength(1));
    const first = client.notifications()[0] as ServerFrame & { epoch: string; offset: number; timestamp: string };
    // A redelivery took offset 2 and wrote the notification there beside its claim, which
    // found the entry; the item is not removed yet when a recover reads.
    const taken = await log.takeOffset('user#pos-ivan', Date.now(), 3600);
    const leftover = { ...first, offset: taken.offset, epoch: taken.epoch } as NotificationFrame;
    await log.append({ messageId: first.messageId, acceptedAt: first.timestamp, frame: leftover }, [{ kind: 'user', userId: 'pos-ivan' }], 3600);
    await runtime.publish('booking-updates', toUser('pos-ivan', 1));
    await vi.waitFor(() => expect(client.notifications()).toHaveLength(2));

    // While young, its run may still give the offset back: recovery waits there. Once
    // settled, it is passed over, never replayed.
    const early = await recover(client, { 'user#pos-ivan': { epoch: first.epoch, offset: 1 } });
    expect(early.payload).toMatchObject({ count: 0, complete: false, streams: { 'user#pos-ivan': { epoch: first.epoch, offset: 1 } } });
    const retryAfterMs = (early.payload as { streams: Record<string, { retryAfterMs?: number }> }).streams['user#pos-ivan']!.retryAfterMs!;
    expect(retryAfterMs).toBeGreaterThan(0);
    await vi.waitFor(
      async () => {
        const answer = await recover(client, { 'user#pos-ivan': { epoch: first.epoch, offset: 1 } });
        expect(answer.payload).toEqual({ count: 1, complete: true, streams: { 'user#pos-ivan': { epoch: first.epoch, offset: 3 } } });
      },
      { timeout: SETTLE_SECONDS * 1000 + 3000, interval: 500 },
    );
    expect(client.notifications().filter((frame) => frame.messageId === first.messageId)).toHaveLength(1);
  });

  it('holds recovery at an offset taken but never filled until it is older than the settle time, then passes it', async () => {
    const { client } = await connect('pos-dave');
    await runtime.publish('booking-updates', toUser('pos-dave', 1));
    // A run that took offset 2 and died before storing its notification.
    const log = new DynamoDbNotificationLog({ client: runtime.tables.client, tables: runtime.tables.tables });
    const taken = await log.takeOffset('user#pos-dave', Date.now(), 3600);
    expect(taken.offset).toBe(2);
    await runtime.publish('booking-updates', toUser('pos-dave', 1));
    await vi.waitFor(() => expect(client.notifications()).toHaveLength(2));

    const early = await recover(client, { 'user#pos-dave': { epoch: taken.epoch, offset: 1 } });
    expect(early.payload).toMatchObject({ count: 0, complete: false, streams: { 'user#pos-dave': { epoch: taken.epoch, offset: 1 } } });
    const retryAfterMs = (early.payload as { streams: Record<string, { retryAfterMs?: number }> }).streams['user#pos-dave']!.retryAfterMs!;
    expect(retryAfterMs).toBeGreaterThan(0);
    expect(retryAfterMs).toBeLessThanOrEqual(SETTLE_SECONDS * 1000);

    await new Promise((resolve) => setTimeout(resolve, retryAfterMs + 50));
    const late = await recover(client, { 'user#pos-dave': { epoch: taken.epoch, offset: 1 } });
    expect(late.payload).toEqual({ count: 1, complete: true, streams: { 'user#pos-dave': { epoch: taken.epoch, offset: 3 } } });
    expect(offsets(client.notifications())).toEqual([1, 3, 3]);
  });

  it('answers positions of another epoch `lost`, and replays the current epoch from its start', async () => {
    await runtime.publish('booking-updates', toUser('pos-erin', 2));
    const { client, welcome } = await connect('pos-erin');
    const head = welcome.streams!['user#pos-erin']!;

    const answer = await recover(client, { 'user#pos-erin': { epoch: '0000000000001', offset: 5 } });

    expect(answer.payload).toEqual({ count: 2, complete: true, streams: { 'user#pos-erin': { epoch: head.epoch, offset: 2, lost: true } } });
    expect(offsets(client.notifications())).toEqual([1, 2]);
  });

  it('answers nothing for a stream the connection does not hold', async () => {
    await runtime.publish('booking-updates', toUser('pos-victim', 1));
    const { client } = await connect('pos-snoop');

    const answer = await recover(client, { 'user#pos-victim': { epoch: '', offset: 0 }, 'user#pos-snoop': { epoch: '', offset: 0 } });

    expect(answer.payload).toEqual({ count: 0, complete: true, streams: { 'user#pos-snoop': { epoch: '', offset: 0 } } });
    expect(client.notifications()).toEqual([]);
  });

  it('keeps that a client drops duplicates by position (`?dedupe=1`), for a takeover to post to it again', async () => {
    const token = await mintToken('pos-gina');
    const sdkLike = await TestClient.open(`${runtime.wsUrl}/?dedupe=1&token=${encodeURIComponent(token)}`);
    const raw = await TestClient.open(runtime.wsUrl, { token });
    clients.push(sdkLike, raw);
    const ids = await Promise.all(
      [sdkLike, raw].map(async (client) => ((await client.next((frame) => frame.type === 'welcome')).payload as { connectionId: string }).connectionId),
    );

    const items = await Promise.all(
      ids.map(
        async (connectionId) =>
          (await runtime.tables.client.send(new GetCommand({ TableName: runtime.tables.tables.Connections, Key: { connectionId } }))).Item,
      ),
    );

    expect(items.map((item) => item?.dedupe)).toEqual([true, undefined]);
  });

  it('refuses a malformed recover with INVALID_MESSAGE naming the field, and the connection stays usable', async () => {
    const { client } = await connect('pos-olga');

    const badName = await client.request('recover', { streams: { nope: { epoch: '', offset: 0 } } });
    const both = await client.request('recover', { since: new Date().toISOString(), streams: { broadcast: { epoch: '', offset: 0 } } });
    const beat = await client.request('heartbeat', {});

    expect(badName).toMatchObject({ type: 'error', payload: { code: 'INVALID_MESSAGE', message: expect.stringContaining('payload.streams: stream names') } });
    expect(both).toMatchObject({ type: 'error', payload: { code: 'INVALID_MESSAGE', message: expect.stringContaining('exactly one of since and streams') } });
    expect(beat).toMatchObject({ type: 'heartbeat' });
  });

  it('answers NOT_REGISTERED to a request on a connection the service no longer holds', async () => {
    const { client, connectionId } = await connect('pos-frank');
    await runtime.tables.client.send(new DeleteCommand({ TableName: runtime.tables.tables.Connections, Key: { connectionId } }));

    const answer = await client.request('heartbeat', {});

    expect(answer).toMatchObject({ type: 'error', payload: { code: 'NOT_REGISTERED' } });
  });
});
