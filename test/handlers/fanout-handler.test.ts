import { randomUUID } from 'node:crypto';
import { KafkaMskEventSchema } from '@aws-lambda-powertools/parser/schemas/kafka';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { getServices } from '../../lambdas/composition.js';
import { handler } from '../../lambdas/handlers/fanout.js';
import { automaticChannels } from '../../protocol/channels.js';
import { notificationFrame } from '../../protocol/frames.js';
import { mskEvent, notificationValue } from '../adapters/kafka-msk-event-fixture.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { ManagementApiStub } from './fanout-management-api-stub.js';

const managementApi = new ManagementApiStub();
let testTables: TestTables;
let baseEnvironment: Record<string, string>;

/** Points this process, as Lambda would, at the test tables and the stub Management API. */
function useEnvironment(overrides: Record<string, string> = {}): void {
  Object.assign(process.env, baseEnvironment, overrides);
}

async function connect(connectionId: string, userId: string, channels: string[] = []): Promise<void> {
  const now = new Date().toISOString();
  await getServices().connections.open(
    { connectionId, userId, roles: [], connectedAt: now, lastSeenAt: now, channels: [...automaticChannels(userId), ...channels] },
    { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
  );
}

describe('fanout handler (DynamoDB Local, Management API over loopback HTTP)', () => {
  beforeAll(async () => {
    testTables = await createTestTables();
    const endpoint = await managementApi.start();
    baseEnvironment = {
      ...testTables.env,
      MANAGEMENT_ENDPOINT: endpoint,
      SERVICE_CONFIG: JSON.stringify({ kafka: { fanout_concurrency: 4, topic_channels: { 'bookings.v2': 'booking-updates' } } }),
      POWERTOOLS_METRICS_DISABLED: 'true',
    };
  });

  afterAll(() => managementApi.stop());

  beforeEach(() => {
    managementApi.reset();
    useEnvironment();
  });

  it('delivers each record of a real MSK event to its audience and answers with its summary', async () => {
    // Prepare
    const run = randomUUID().slice(0, 8);
    const [alice, bob] = [`alice-${run}`, `bob-${run}`];
    await connect(`${alice}-live`, alice);
    await connect(`${alice}-dead`, alice);
    await connect(`${bob}-1`, bob, ['booking-updates']);
    managementApi.gone.add(`${alice}-dead`);
    const toAlice = randomUUID();
    const event = mskEvent([
      { topic: 'booking-updates', partition: 0, offset: 100, value: notificationValue({ messageId: toAlice, targetUserId: alice }) },
      { topic: 'booking-updates', partition: 0, offset: 101, value: 'this is not JSON' },
      { topic: 'booking-updates', partition: 0, offset: 102, value: notificationValue({ messageId: randomUUID() }, 'Topic Default') },
      { topic: 'bookings.v2', partition: 1, offset: 7, value: notificationValue({ messageId: randomUUID() }, 'Mapped Topic') },
    ]);
    expect(KafkaMskEventSchema.safeParse(event).success).toBe(true);

    // Act
    const response = await handler(event);

    // Assess
    expect(response).toMatchObject({ batchItemFailures: [], records: 4, delivered: 3, gone: 1, failed: 0, duplicates: 0 });
    expect(response.invalid).toEqual([{ topic: 'booking-updates', partition: 0, offset: 101, reason: expect.stringMatching(/^value is not JSON: /) }]);
    expect(response.targets).toBeGreaterThanOrEqual(4);
    const [toLive] = managementApi.framesTo(`${alice}-live`);
    expect(notificationFrame.safeParse(toLive).success).toBe(true);
    expect(toLive).toMatchObject({ messageId: toAlice, type: 'notification', targetUserId: alice });
    // Two partitions: delivered side by side, in no promised order between them.
    expect(
      managementApi
        .framesTo(`${bob}-1`)
        .map((frame) => (frame.payload as { title: string }).title)
        .sort(),
    ).toEqual(['Mapped Topic', 'Topic Default']);
    // 410 removed that connection, and only that one.
    expect(await getServices().connections.get(`${alice}-dead`)).toBeUndefined();
    expect(await getServices().connections.get(`${alice}-live`)).toBeDefined();
    // The notification is kept for recover, even for the connection that was gone.
    const inbox = await getServices().notifications.readSince([{ kind: 'user', userId: alice }], '2000-01-01T00:00:00.000Z', 10);
    expect(inbox.notifications.map((notification) => notification.messageId)).toEqual([toAlice]);
  });

  it('delivers a redelivered batch once (the ledger on DynamoDB Local)', async () => {
    const user = `carol-${randomUUID().slice(0, 8)}`;
    await connect(`${user}-1`, user);
    const event = mskEvent([
      { topic: 'booking-updates', offset: 200, value: notificationValue({ messageId: randomUUID(), targetUserId: user }) },
      // No messageId: the redelivery is recognised by topic, partition and offset.
      { topic: 'booking-updates', offset: 201, value: notificationValue({ targetUserId: user }) },
    ]);

    const first = await handler(structuredClone(event));
    const second = await handler(structuredClone(event));

    expect(first).toMatchObject({ delivered: 2, duplicates: 0 });
    expect(second).toMatchObject({ batchItemFailures: [], records: 2, delivered: 0, duplicates: 2, targets: 0 });
    expect(managementApi.framesTo(`${user}-1`)).toHaveLength(2);
  });

  it('names the first failed record of each partition in batchItemFailures, as Kafka partial batch responses expect', async () => {
    // Prepare: a Notifications table that does not exist makes every record fail.
    useEnvironment({ NOTIFICATIONS_TABLE: `missing-${randomUUID()}` });
    const event = mskEvent([
      { topic: 'booking-updates', partition: 0, offset: 300, value: notificationValue({ messageId: randomUUID(), broadcast: true }) },
      { topic: 'booking-updates', partition: 0, offset: 301, value: notificationValue({ messageId: randomUUID(), broadcast: true }) },
      { topic: 'booking-updates', partition: 3, offset: 40, value: notificationValue({ messageId: randomUUID(), broadcast: true }) },
      { topic: 'booking-updates', partition: 3, offset: 41, value: 'not JSON either' },
    ]);

    // Act
    const response = await handler(event);

    // Assess
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: { partition: 'booking-updates-0', offset: 300 } },
      { itemIdentifier: { partition: 'booking-updates-3', offset: 40 } },
    ]);
    expect(response.invalid).toEqual([]);
    expect(managementApi.calls).toHaveLength(0);
  });
});
