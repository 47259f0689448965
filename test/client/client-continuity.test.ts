import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotificationClient, type NotificationClientOptions, type PositionStorage } from '../../client/index.js';
import type { NotificationFrame } from '../../protocol/types.js';
import { ClientEvents, step } from './client-events.js';
import { EPOCH, FakeNotificationServer, type FakeConnection, type ReceivedFrame } from './fake-server.js';

/** A `sessionStorage` stand-in. */
class MemoryStorage implements PositionStorage {
  readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, value);
  }
}

/**
 * Continuity (docs/protocol.md section 11) end to end: the SDK against the fake server over
 * real sockets. Every notification shown once, in offset order per stream, whatever was
 * lost, late or doubled on the way.
 */
describe('NotificationClient continuity (fake server)', () => {
  let server: FakeNotificationServer;
  const clients: NotificationClient[] = [];

  const createClient = (options: Partial<NotificationClientOptions> = {}) => {
    const client = new NotificationClient({
      url: server.url,
      token: 'alice:static',
      reconnect: { initialDelayMs: 10, maxDelayMs: 50 },
      ...options,
    } as NotificationClientOptions);
    clients.push(client);
    return { client, events: new ClientEvents(client) };
  };

  const ids = (frames: readonly NotificationFrame[]) => frames.map((frame) => frame.messageId);
  const recoverRequests = (connection: FakeConnection) => connection.received.filter((frame) => frame.type === 'recover').map((frame) => frame.payload);

  beforeEach(async () => {
    server = await FakeNotificationServer.start();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
    await server.stop();
  });

  it('says on the connect URL that it drops duplicates by position (dedupe=1 beside the token)', async () => {
    const { client } = createClient();

    await client.connect();

    const connection = await server.connection(0);
    expect(connection.query.get('token')).toBe('alice:static');
    expect(connection.query.get('dedupe')).toBe('1');
  });

  it('heals a gap seen in live frames with recover { streams }, showing every offset once and in order', async () => {
    const { client, events } = createClient();
    await client.connect();
    await client.subscribe(['booking-updates']);
    const connection = await server.connection(0);

    const first = server.publish('booking-updates', 'one');
    const lost = server.publish('booking-updates', 'two, lost on its way', []);
    const third = server.publish('booking-updates', 'three');
    const recovered = await step(events, 'recovered', events.once('recovered'));

    expect(ids(events.of('notification'))).toEqual(ids([first, lost, third]));
    expect(recoverRequests(connection)).toEqual([{ streams: { 'channel#booking-updates': { epoch: EPOCH, offset: 1 } } }]);
    expect(recovered).toEqual({ count: 2, complete: true, streams: { 'channel#booking-updates': { epoch: EPOCH, offset: 3 } } });
    expect(client.positions['channel#booking-updates']).toEqual({ epoch: EPOCH, offset: 3 });
  });

  it('finds the last notification missed through the heads of a heartbeat answer', async () => {
    const { client, events } = createClient({ heartbeatIntervalMs: 100 });
    await client.connect();
    const connection = await server.connection(0);

    const seen = server.publish('user-alice', 'seen');
    // Nothing newer follows to show the gap: only the heads can.
    const last = server.publish('user-alice', 'the last one, lost on its way', []);
    await step(
      events,
      'the last notification',
      events.once('notification', (frame) => frame.messageId === last.messageId),
    );

    expect(ids(events.of('notification'))).toEqual(ids([seen, last]));
    expect(recoverRequests(connection)[0]).toEqual({ streams: { 'user#alice': { epoch: EPOCH, offset: 1 } } });
  });

  it('recovers in pages (complete: false) while live ones arrive meanwhile, ending with every offset once and in order', async () => {
    await server.stop();
    server = await FakeNotificationServer.start({ recoverPageSize: 2 });
    const { client, events } = createClient();
    await client.connect();
    await client.subscribe(['booking-updates']);
    const connection = await server.connection(0);
    const published: NotificationFrame[] = [];
    // Live ones published during the first two rounds, between the replay and the answer.
    server.beforeRecovered = (_connection, round) => {
      if (round <= 2) published.push(server.publish('booking-updates', `live during round ${round}`));
    };

    published.push(server.publish('booking-updates', 'one'));
    for (let offset = 2; offset <= 6; offset += 1) published.push(server.publish('booking-updates', `missed ${offset}`, []));
    // The gap shows with this one.
    published.push(server.publish('booking-updates', 'seven'));
    await step(
      events,
      'all nine',
      events.once('recovered', (result) => result.complete && result.streams['channel#booking-updates']?.offset === 9),
    );

    expect(published.map((frame) => frame.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(events.of('notification').map((frame) => frame.offset)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(ids(events.of('notification'))).toEqual(ids([...published].sort((a, b) => a.offset! - b.offset!)));
    const asked = recoverRequests(connection).map((payload) => (payload.streams as Record<string, { offset: number }>)['channel#booking-updates']!.offset);
    // Pages of two: from 1 (gap), from 3 and from 5 (complete: false), then what was left.
    expect(asked.slice(0, 3)).toEqual([1, 3, 5]);
    expect(events.of('recovered')).toHaveLength(1);
  });

  it('shows notifications posted before the welcome, and does not take them as seen by the head', async () => {
    let early: NotificationFrame | undefined;
    server.beforeWelcome = (connection) => {
      if (!early) early = server.publish('user-alice', 'before the welcome', [connection]);
    };
    const { client, events } = createClient();

    await client.connect();
    await step(events, 'the early one', events.once('notification'));

    expect(ids(events.of('notification'))).toEqual([early!.messageId]);
    expect(events.of('error')).toEqual([]);
    expect(client.positions['user#alice']).toEqual({ epoch: EPOCH, offset: 1 });
  });

  it('resumes from storage after a reload: recovers what was published in between, and nothing twice', async () => {
    const storage = new MemoryStorage();
    const before = createClient({ storage });
    await before.client.connect();
    await before.client.subscribe(['booking-updates']);
    const seen = [server.publish('user-alice', 'seen 1'), server.publish('booking-updates', 'seen 2')];
    await step(
      before.events,
      'both',
      before.events.once('notification', () => before.events.of('notification').length === 2),
    );
    // The page unloads; close() saves the positions at once.
    await before.client.close();
    const missed = [server.publish('user-alice', 'while reloading'), server.publish('booking-updates', 'while reloading')];

    const after = createClient({ storage });
    await after.client.connect();
    await after.client.subscribe(['booking-updates']);
    await step(
      after.events,
      'both missed',
      after.events.once('notification', () => after.events.of('notification').length === 2),
    );

    expect(JSON.parse(storage.getItem('notifications:positions')!)).toMatchObject({
      streams: { 'user#alice': { epoch: EPOCH, offset: 1 }, 'channel#booking-updates': { epoch: EPOCH, offset: 1 } },
    });
    expect(ids(after.events.of('notification'))).toEqual(ids(missed));
    expect(ids(after.events.of('notification'))).not.toContain(seen[0]!.messageId);
    const connection = await server.connection(1);
    expect(recoverRequests(connection)).toEqual([
      // The user stream from the welcome's heads; the channel once it was subscribed again.
      { streams: { 'user#alice': { epoch: EPOCH, offset: 1 } } },
      { streams: { 'channel#booking-updates': { epoch: EPOCH, offset: 1 } } },
    ]);
  });

  it('saves positions to storage once they have been still for a moment, under storageKey', async () => {
    const storage = new MemoryStorage();
    const { client, events } = createClient({ storage, storageKey: 'alice:positions' });
    await client.connect();

    server.publish('user-alice', 'one');
    await step(events, 'one', events.once('notification'));
    await new Promise((resolve) => setTimeout(resolve, 400));

    expect(JSON.parse(storage.getItem('alice:positions')!)).toEqual({
      version: 1,
      // The channel's head from the welcome: nothing published there yet.
      streams: { 'user#alice': { epoch: EPOCH, offset: 1 }, 'channel#system-announcements': { epoch: '', offset: 0 } },
    });
  });

  it('starts from the positions given, overriding stored ones, and recovers after them at the first welcome', async () => {
    const storage = new MemoryStorage();
    storage.setItem('notifications:positions', JSON.stringify({ version: 1, streams: { 'user#alice': { epoch: EPOCH, offset: 0 } } }));
    const published = [server.publish('user-alice', 'one'), server.publish('user-alice', 'two'), server.publish('user-alice', 'three')];
    const { client, events } = createClient({ storage, positions: { 'user#alice': { epoch: EPOCH, offset: 2 } } });

    await client.connect();
    const recovered = await step(events, 'recovered', events.once('recovered'));

    expect(ids(events.of('notification'))).toEqual([published[2]!.messageId]);
    expect(recovered).toEqual({ count: 1, complete: true, streams: { 'user#alice': { epoch: EPOCH, offset: 3 } } });
  });

  it('emits continuityLost when the server answers lost: true, then goes on after it', async () => {
    const { client, events } = createClient();
    await client.connect();
    await client.subscribe(['booking-updates']);

    const first = server.publish('booking-updates', 'one');
    server.publish('booking-updates', 'two, lost', []);
    server.publish('booking-updates', 'three, lost', []);
    server.expire('booking-updates', 3);
    const fourth = server.publish('booking-updates', 'four');
    await step(events, 'recovered', events.once('recovered'));

    expect(events.of('continuityLost')).toEqual([{ stream: 'channel#booking-updates', from: { epoch: EPOCH, offset: 1 }, to: { epoch: EPOCH, offset: 4 } }]);
    expect(ids(events.of('notification'))).toEqual(ids([first, fourth]));
    // Told before what follows the loss.
    const order = events.log.filter((entry) => entry.event === 'notification' || entry.event === 'continuityLost').map((entry) => entry.event);
    expect(order).toEqual(['notification', 'continuityLost', 'notification']);
  });

  it('passes over an offset taken and never filled, without a loss', async () => {
    const { client, events } = createClient();
    await client.connect();

    const first = server.publish('user-alice', 'one');
    server.skipOffset('user-alice');
    const third = server.publish('user-alice', 'three');
    await step(events, 'recovered', events.once('recovered'));

    expect(ids(events.of('notification'))).toEqual(ids([first, third]));
    expect(events.of('continuityLost')).toEqual([]);
    expect(client.positions['user#alice']).toEqual({ epoch: EPOCH, offset: 3 });
  });

  it('drops a duplicate delivered by two overlapping connections or by a repeated post, by position', async () => {
    const { client, events } = createClient();
    await client.connect();
    const connection = await server.connection(0);

    const frame = server.publish('user-alice', 'once');
    // Posted again, as a delivery taken over after an unknown outcome does to dedupe=1 connections.
    connection.socket.send(JSON.stringify({ ...frame, messageId: crypto.randomUUID() }));
    const next = server.publish('user-alice', 'next');
    await step(
      events,
      'next',
      events.once('notification', (value) => value.messageId === next.messageId),
    );

    expect(ids(events.of('notification'))).toEqual(ids([frame, next]));
  });

  it('forgets the position of a channel it leaves: what the channel missed meanwhile is not recovered', async () => {
    const { client, events } = createClient({ heartbeatIntervalMs: 100 });
    await client.connect();
    await client.subscribe(['booking-updates']);
    server.publish('booking-updates', 'while held');
    await step(events, 'one', events.once('notification'));

    await client.unsubscribe(['booking-updates']);
    server.publish('booking-updates', 'while not held');
    await client.subscribe(['booking-updates']);
    const connection = await server.connection(0);
    // Two heartbeats: the heads now include the channel again.
    await connection.nextRequest((frame) => frame.type === 'heartbeat' && connection.received.filter((f) => f.type === 'heartbeat').length >= 2);
    await client.presence(['bob']);

    expect(events.of('notification')).toHaveLength(1);
    expect(recoverRequests(connection)).toEqual([]);
    expect(client.positions['channel#booking-updates']).toEqual({ epoch: EPOCH, offset: 2 });
  });

  /** Answers every `recover { streams }` on `connection` with `answer(asked, round)` instead of the fake's own. */
  const answerRecover = (
    connection: FakeConnection,
    answer: (asked: Record<string, { epoch: string; offset: number }>, round: number) => Record<string, unknown>,
  ) => {
    connection.unanswered.add('recover');
    let round = 0;
    const times: number[] = [];
    connection.socket.on('message', (data) => {
      const frame = JSON.parse(data.toString()) as ReceivedFrame;
      if (frame.type !== 'recover') return;
      round += 1;
      times.push(Date.now());
      connection.reply(frame, 'recovered', answer(frame.payload.streams as Record<string, { epoch: string; offset: number }>, round));
    });
    return times;
  };

  it('waits retryAfterMs before asking again for a stream whose next notification is still being stored', async () => {
    const { client, events } = createClient();
    await client.connect();
    const connection = await server.connection(0);
    const times = answerRecover(connection, (asked, round) => {
      const from = asked['user#alice']!;
      if (round === 1) return { count: 0, complete: false, streams: { 'user#alice': { ...from, retryAfterMs: 150 } } };
      // Then offset 2 is old enough to be passed over: it was never filled.
      return { count: 0, complete: true, streams: { 'user#alice': { epoch: EPOCH, offset: 3 } } };
    });

    server.publish('user-alice', 'one');
    server.skipOffset('user-alice');
    server.publish('user-alice', 'three');
    await step(events, 'recovered', events.once('recovered'));

    expect(times).toHaveLength(2);
    expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(140);
    expect(events.of('notification').map((frame) => frame.offset)).toEqual([1, 3]);
    expect(client.positions['user#alice']).toEqual({ epoch: EPOCH, offset: 3 });
  });

  it('stops after 50 rounds that leave a stream behind, with RECOVERY_INCOMPLETE, until the next heads', async () => {
    const { client, events } = createClient();
    await client.connect();
    const connection = await server.connection(0);
    // An answer that never moves: the stream stays behind its head.
    answerRecover(connection, (asked) => ({ count: 0, complete: false, streams: asked }));

    server.publish('user-alice', 'one');
    server.publish('user-alice', 'two', []);
    server.publish('user-alice', 'three');
    const recovered = await step(events, 'recovered', events.once('recovered'));
    // Another live frame of the stream does not start another 50 rounds.
    server.publish('user-alice', 'four');
    await client.presence(['bob']);

    expect(recovered).toMatchObject({ complete: false });
    expect(connection.received.filter((frame) => frame.type === 'recover')).toHaveLength(50);
    expect(events.of('error').map((error) => error.code)).toEqual(['RECOVERY_INCOMPLETE']);
    expect(events.of('notification').map((frame) => frame.offset)).toEqual([1]);
  });

  it("counts a recovered notification to the user once: not when the welcome's count has it, yes when it came after", async () => {
    let unread = 0;
    server.welcomeExtras = () => ({ unreadCount: unread });
    const { client, events } = createClient();
    await client.connect();

    // Published while the connection is down: in the next welcome's count, and replayed.
    const missed = [server.publish('user-alice', 'missed 1', []), server.publish('user-alice', 'missed 2', [])];
    unread = 2;
    (await server.connection(0)).drop();
    const second = await server.connection(1);
    await step(events, 'recovered', events.once('recovered'));
    const live = server.publish('user-alice', 'live');
    await step(
      events,
      'live',
      events.once('notification', (frame) => frame.messageId === live.messageId),
    );

    expect(ids(events.of('notification'))).toEqual(ids([...missed, live]));
    expect(events.of('unread')).toEqual([{ count: 0 }, { count: 2 }, { count: 3 }]);
    // Told by position: no inbox request needed to settle the count.
    expect(second.received.filter((frame) => frame.type === 'inbox')).toEqual([]);
  });
});
