import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main as sendCommand } from '../../local/commands/send.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { callServerApi } from '../support/server-api-client.js';
import { TestClient } from '../support/ws-client.js';

const CREDENTIALS = { accessKeyId: 'AKIATESTIDEMPOTENCY', secretAccessKey: 'test/idempotency+key' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A producer record that leaves the key to the service: no messageId. */
function keyless(overrides: Record<string, unknown>, notificationId: string) {
  const { messageId: _messageId, ...record } = notificationRecord(overrides, { notificationId });
  return record;
}

/**
 * A producer's retry, by Kafka or the server API, of a record without messageId: the
 * same target and notificationId within history_ttl reach each client once (docs/protocol.md
 * section 6). The local runtime, DynamoDB Local and real WebSocket clients over loopback.
 */
describe('producer idempotency (local runtime)', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];
  const connect = async (userId: string, channels: string[] = []) => {
    const { client } = await TestClient.connect(runtime.wsUrl, userId);
    clients.push(client);
    if (channels.length > 0) await client.request('subscribe', { channels });
    return client;
  };
  const publish = (body: unknown) => callServerApi(runtime.serverApiUrl, CREDENTIALS, 'POST', '/publish', body);
  /** The notifications of one notificationId the client got, once every earlier frame is in. */
  const received = async (client: TestClient, notificationId: string) => {
    // The heartbeat's answer comes after any post made before it: nothing is still on its way.
    await client.request('heartbeat');
    return client.notifications().filter((frame) => (frame.payload as { notificationId: string }).notificationId === notificationId);
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({}, { serverApiCredentials: CREDENTIALS });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  describe('server API', () => {
    it('answers a second publish of the same record without messageId `duplicate`, under the key the first answer gave', async () => {
      // Prepare
      const client = await connect('idem-api');
      const notificationId = `booking-${randomUUID()}`;
      const record = keyless({ targetUserId: 'idem-api' }, notificationId);

      // Act
      const first = await publish(record);
      const retry = await publish(record);

      // Assess
      expect(first.status).toBe(200);
      expect(first.body).toMatchObject({ delivered: 1, duplicate: 0 });
      const messageId = first.body.results[0].messageId;
      expect(messageId).toMatch(UUID);
      expect(retry.body).toEqual({ results: [{ index: 0, status: 'duplicate', messageId }], delivered: 0, duplicate: 1, invalid: 0, failed: 0 });
      const frames = await received(client, notificationId);
      expect(frames).toHaveLength(1);
      expect(frames[0]!.messageId).toBe(messageId);
    });

    it('answers a retry that carries the answered messageId `duplicate` too', async () => {
      // Prepare
      const client = await connect('idem-api-logged');
      const notificationId = `booking-${randomUUID()}`;
      const record = keyless({ targetUserId: 'idem-api-logged' }, notificationId);
      const first = await publish(record);

      // Act: the producer logged the key and sends the record again with it.
      const retry = await publish([{ ...record, messageId: first.body.results[0].messageId }]);

      // Assess
      expect(retry.body.results).toEqual([{ index: 0, status: 'duplicate', messageId: first.body.results[0].messageId }]);
      expect(await received(client, notificationId)).toHaveLength(1);
    });

    it('delivers two notificationIds to the same user both, under two keys', async () => {
      // Prepare
      const client = await connect('idem-api-two');
      const [one, two] = [`booking-${randomUUID()}`, `booking-${randomUUID()}`];

      // Act
      const answer = await publish([keyless({ targetUserId: 'idem-api-two' }, one), keyless({ targetUserId: 'idem-api-two' }, two)]);

      // Assess
      expect(answer.body).toMatchObject({ delivered: 2, duplicate: 0 });
      expect(answer.body.results[0].messageId).not.toBe(answer.body.results[1].messageId);
      expect(await received(client, one)).toHaveLength(1);
      expect(await received(client, two)).toHaveLength(1);
    });

    it('answers a record without target `invalid` and gives it no key', async () => {
      const answer = await publish([keyless({}, 'no-target'), keyless({ broadcast: true }, `all-${randomUUID()}`)]);

      expect(answer.body.results[0]).toEqual({ index: 0, status: 'invalid', reason: expect.stringContaining('names no target') });
      expect(answer.body.results[1]).toMatchObject({ status: 'delivered', messageId: expect.stringMatching(UUID) });
    });
  });

  describe('Kafka (POST /_local/topics/{topic})', () => {
    it('delivers the same record value sent twice (two offsets) once', async () => {
      // Prepare
      const client = await connect('idem-kafka', ['booking-updates']);
      const notificationId = `booking-${randomUUID()}`;
      const value = keyless({}, notificationId);

      // Act: a producer's retry is a new record, at the next offset.
      const first = await runtime.publish('booking-updates', value);
      const retry = await runtime.publish('booking-updates', value);

      // Assess
      expect(first.body).toMatchObject({ batchItemFailures: [], delivered: 1, duplicates: 0 });
      expect(retry.body).toMatchObject({ batchItemFailures: [], delivered: 0, duplicates: 1 });
      expect(await received(client, notificationId)).toHaveLength(1);
    });

    it('delivers two records of different notificationIds both', async () => {
      // Prepare
      const client = await connect('idem-kafka-two', ['waitlist-notifications']);
      const [one, two] = [`waitlist-${randomUUID()}`, `waitlist-${randomUUID()}`];

      // Act
      const answer = await runtime.publish('waitlist-notifications', [keyless({}, one), keyless({}, two)]);

      // Assess
      expect(answer.body).toMatchObject({ delivered: 2, duplicates: 0 });
      expect(await received(client, one)).toHaveLength(1);
      expect(await received(client, two)).toHaveLength(1);
    });

    it('keys a record alike whichever way it came: a server API publish after the Kafka record is a duplicate', async () => {
      // Prepare: the record names no target; its topic maps to the channel of its name.
      const client = await connect('idem-both', ['booking-updates']);
      const notificationId = `booking-${randomUUID()}`;
      await runtime.publish('booking-updates', keyless({}, notificationId));

      // Act
      const answer = await publish(keyless({ channel: 'booking-updates' }, notificationId));

      // Assess
      expect(answer.body.results[0]).toMatchObject({ status: 'duplicate' });
      const frames = await received(client, notificationId);
      expect(frames).toHaveLength(1);
      expect(frames[0]!.messageId).toBe(answer.body.results[0].messageId);
    });
  });

  describe('npm run send', () => {
    const run = async (argv: string[]) => {
      const lines: string[] = [];
      const output = { out: (text: string) => lines.push(text), err: (text: string) => lines.push(text) };
      const env = { AWS_ACCESS_KEY_ID: CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: CREDENTIALS.secretAccessKey };
      const code = await sendCommand([...argv, '--url', runtime.httpUrl], output, env);
      return { code, text: lines.join('\n') };
    };

    it('sends the same --notification-id twice as one notification, through the server API', async () => {
      // Prepare
      const client = await connect('idem-send');
      const notificationId = `send-${randomUUID()}`;
      const argv = ['--title', 'Once', '--message', 'only once', '--user', 'idem-send', '--notification-id', notificationId, '--server-api'];

      // Act
      const first = await run(argv);
      const retry = await run(argv);

      // Assess
      expect(first.code).toBe(0);
      expect(first.text).toContain('"status": "delivered"');
      expect(retry.code).toBe(0);
      expect(retry.text).toContain('"status": "duplicate"');
      expect(await received(client, notificationId)).toHaveLength(1);
    });

    it('sends the same --message-id twice as one notification, on a Kafka topic', async () => {
      // Prepare
      const client = await connect('idem-send-kafka');
      const messageId = randomUUID();
      const argv = ['--title', 'Once', '--message', 'only once', '--user', 'idem-send-kafka', '--message-id', messageId];

      // Act
      const first = await run(argv);
      const retry = await run(argv);

      // Assess
      expect(first.text).toContain(`published ${messageId} on booking-updates`);
      expect(retry.text).toContain('"duplicates": 1');
      await client.next((frame) => frame.messageId === messageId);
      await client.request('heartbeat');
      expect(client.notifications().map((frame) => frame.messageId)).toEqual([messageId]);
    });
  });
});
