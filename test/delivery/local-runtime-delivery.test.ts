import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { TestClient } from '../support/ws-client.js';

describe('the local runtime runs the delivery path of AWS', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    // Shards of 10: a channel of 25 subscribers goes to three worker invocations.
    runtime = await startTestRuntime({ delivery: { shard_size: 10 }, kafka: { topics: ['booking-updates'], fanout_concurrency: 4 } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close()));
    await runtime.stop();
  });

  it('delivers to a channel larger than shard_size through worker invocations, each client once', async () => {
    // Prepare
    for (let index = 0; index < 25; index += 1) {
      const { client } = await TestClient.connect(runtime.wsUrl, `shard-user-${index}`);
      await client.request('subscribe', { channels: ['waitlist-notifications'] });
      clients.push(client);
    }
    const record = notificationRecord({ channel: 'waitlist-notifications' });

    // Act
    const answer = await runtime.publish('booking-updates', record);

    // Assess
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ batchItemFailures: [], targets: 25, delivered: 25, inDoubt: 0 });
    for (const client of clients) {
      const frame = await client.next((candidate) => candidate.type === 'notification');
      expect(frame.messageId).toBe(record.messageId);
    }
    // Published again (Kafka redelivers): nobody gets it twice.
    const again = await runtime.publish('booking-updates', record);
    expect(again.body).toMatchObject({ duplicates: 1, delivered: 0 });
    await Promise.all(clients.map((client) => client.request('heartbeat')));
    expect(clients.every((client) => client.notifications().length === 1)).toBe(true);
  });

  it('lists a record it could not read at GET /_local/dead-letters, with its reason and value', async () => {
    const answer = await runtime.publish('booking-updates', 'this is not JSON', { raw: true });

    expect(answer.body).toMatchObject({ batchItemFailures: [], deadLettered: 1 });
    const listing = (await (await fetch(`${runtime.httpUrl}/_local/dead-letters`)).json()) as { letters: Array<{ letter: Record<string, unknown> }> };
    expect(listing.letters.map((entry) => entry.letter)).toContainEqual(
      expect.objectContaining({ kind: 'record', topic: 'booking-updates', reason: expect.stringMatching(/^value is not JSON/), value: 'this is not JSON' }),
    );
    expect(runtime.queuedDeadLetters.length).toBeGreaterThan(0);
  });
});
