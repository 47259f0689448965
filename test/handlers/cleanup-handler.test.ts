import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getServices } from '../../lambdas/composition.js';
import { handler } from '../../lambdas/handlers/cleanup.js';
import { automaticChannels } from '../../protocol/channels.js';
import { createTestTables } from '../support/dynamodb.js';
import { ManagementApiStub } from './fanout-management-api-stub.js';

const IDLE_TIMEOUT = 120;
const managementApi = new ManagementApiStub();

async function connect(connectionId: string, lastSeenSecondsAgo: number): Promise<void> {
  const userId = `user-of-${connectionId}`;
  const lastSeenAt = new Date(Date.now() - lastSeenSecondsAgo * 1000).toISOString();
  await getServices().connections.open(
    { connectionId, userId, roles: [], connectedAt: lastSeenAt, lastSeenAt, channels: automaticChannels(userId) },
    { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
  );
}

describe('cleanup handler (DynamoDB Local, Management API over loopback HTTP)', () => {
  beforeAll(async () => {
    const { env } = await createTestTables();
    Object.assign(process.env, env, {
      MANAGEMENT_ENDPOINT: await managementApi.start(),
      SERVICE_CONFIG: JSON.stringify({ websocket: { idle_timeout: IDLE_TIMEOUT, heartbeat_interval: 60 } }),
    });
  });

  afterAll(() => managementApi.stop());

  it('closes and removes the connections silent for longer than idle_timeout, and keeps the others', async () => {
    // Prepare
    const run = randomUUID().slice(0, 8);
    await connect(`stale-${run}`, IDLE_TIMEOUT * 3);
    await connect(`closed-${run}`, IDLE_TIMEOUT * 2);
    await connect(`fresh-${run}`, 5);
    // Already closed by the client: DeleteConnection answers 410, which is fine.
    managementApi.gone.add(`closed-${run}`);

    // Act
    const summary = await handler({ 'detail-type': 'Scheduled Event', source: 'aws.events' });

    // Assess
    expect(summary).toEqual({ examined: 2, closed: 2, removed: 2, failed: 0 });
    const deletes = managementApi.calls.filter((call) => call.method === 'DELETE').map((call) => call.connectionId);
    expect(deletes.sort()).toEqual([`closed-${run}`, `stale-${run}`]);
    expect(await getServices().connections.get(`stale-${run}`)).toBeUndefined();
    expect(await getServices().connections.get(`closed-${run}`)).toBeUndefined();
    expect(await getServices().connections.get(`fresh-${run}`)).toBeDefined();
  });

  it('lets the library clean up with another idle time (cleanupInactive)', async () => {
    const run = randomUUID().slice(0, 8);
    await connect(`minute-old-${run}`, 60);

    const summary = await getServices().cleanup.cleanupInactive(30);

    expect(summary).toMatchObject({ examined: 1, closed: 1, removed: 1 });
    expect(await getServices().connections.get(`minute-old-${run}`)).toBeUndefined();
  });
});
