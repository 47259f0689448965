import { DeleteCommand, GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotificationClient, type NotificationClientOptions } from '../../client/index.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken } from '../support/ws-client.js';
import { ClientEvents } from './client-events.js';

/**
 * Continuity as the app sees it, against the local runtime and DynamoDB Local: the SDK
 * over real sockets (docs/protocol.md section 11).
 */
describe('NotificationClient continuity against the local runtime', () => {
  let runtime: TestRuntime;
  const clients: NotificationClient[] = [];
  const createClient = (options: NotificationClientOptions) => {
    const client = new NotificationClient(options);
    clients.push(client);
    return { client, events: new ClientEvents(client) };
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } });
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.close()));
  });

  afterAll(async () => {
    await runtime?.stop();
  });

  it('finds the last notification it missed from the next heartbeat answer, with nothing newer on the stream', async () => {
    // Prepare: a client whose first heartbeat comes 2 s after its welcome.
    const { client, events } = createClient({ url: runtime.wsUrl, token: await mintToken('cont-lena'), heartbeatIntervalMs: 2_000 });
    const welcome = await client.connect();
    const connections = runtime.tables.tables.Connections;
    const key = { connectionId: welcome.connectionId };
    const item = (await runtime.tables.client.send(new GetCommand({ TableName: connections, Key: key, ConsistentRead: true }))).Item!;

    // Act: the notification is published while the connection is missing from the user's
    // audience (its live post never made), then the connection is back: nothing newer follows.
    await runtime.tables.client.send(new DeleteCommand({ TableName: connections, Key: key }));
    const missed = notificationRecord({ targetUserId: 'cont-lena' });
    expect((await runtime.publish('booking-updates', [missed])).body).toMatchObject({ delivered: 0 });
    await runtime.tables.client.send(new PutCommand({ TableName: connections, Item: item }));
    const shown = await events.once('notification');

    // Assess: shown once, through a recovery the heartbeat's heads started, on the same connection.
    expect(shown).toMatchObject({ messageId: missed.messageId, stream: 'user#cont-lena', offset: 1 });
    await events.once('recovered', (result) => result.count === 1);
    expect(events.states()).not.toContain('reconnecting');
    expect(events.notificationIds()).toEqual([missed.messageId]);
  });

  it('resumes after a reload from the positions it stored: what was published meanwhile is shown, once, in order', async () => {
    // Prepare: a first client (a page) sees one notification and stores its positions.
    const store = new Map<string, string>();
    const storage = { getItem: (name: string) => store.get(name) ?? null, setItem: (name: string, value: string) => void store.set(name, value) };
    const first = createClient({ url: runtime.wsUrl, token: await mintToken('cont-mira'), storage });
    await first.client.connect();
    const seen = notificationRecord({ targetUserId: 'cont-mira' });
    await runtime.publish('booking-updates', [seen]);
    await first.events.once('notification');
    await first.client.close();

    // Act: three are published while no page is open, then the page is loaded again.
    const meanwhile = [0, 1, 2].map(() => notificationRecord({ targetUserId: 'cont-mira' }));
    await runtime.publish('booking-updates', meanwhile);
    const second = createClient({ url: runtime.wsUrl, token: await mintToken('cont-mira'), storage });
    await second.client.connect();
    await second.events.once('notification', (frame) => frame.messageId === meanwhile[2]!.messageId);

    // Assess
    expect(second.events.notificationIds()).toEqual(meanwhile.map((record) => record.messageId));
  });
});
