import { DeleteCommand, PutCommand } from '@aws-sdk/lib-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.js';
import type { CommandOutput } from '../../local/commands/command-line.js';
import { main as replay } from '../../local/commands/replay.js';
import type { ParkedRecord } from '../../local/kafka/parked-records.js';
import { startLocalRuntime } from '../../local/runtime.js';
import { createTestTables, type TestTables } from '../support/dynamodb.js';
import { notificationRecord } from '../support/records.js';
import { TEST_JWT_SECRET, TestClient } from '../support/ws-client.js';

const TOPIC = 'booking-updates';
const USER = 'parking-user';

interface Started {
  readonly runtime: Awaited<ReturnType<typeof startLocalRuntime>>;
  readonly tables: TestTables;
  readonly client: TestClient;
}

let started: Started | undefined;
afterEach(async () => {
  await started?.client.close();
  await started?.runtime.stop();
  started = undefined;
});

/** The runtime as `npm start` runs it, with `deployment.kafka.retry_attempts` when given, and one client of USER. */
async function start(retryAttempts?: number): Promise<Started> {
  const tables = await createTestTables();
  const config = parseConfig({
    notification_service: { kafka: { topics: [TOPIC] } },
    ...(retryAttempts !== undefined
      ? { deployment: { kafka: { msk_cluster_arn: 'arn:aws:kafka:us-east-1:123456789012:cluster/local/uuid-1', retry_attempts: retryAttempts } } }
      : {}),
  });
  const runtime = await startLocalRuntime({
    port: 0,
    config,
    dynamodbEndpoint: tables.endpoint,
    tables: tables.tables,
    jwtSecret: TEST_JWT_SECRET,
    cleanupIntervalMs: 0,
    logInvocation: () => {},
    notice: () => {},
  });
  const { client } = await TestClient.connect(runtime.wsUrl, USER);
  started = { runtime, tables, client };
  return started;
}

/**
 * The fault: another run holds the record's ledger entry (status posting, a lease that
 * lasts), so every delivery of it fails with "in progress" (docs/delivery.md section 1),
 * deterministically, against the real DynamoDB Local.
 */
function holdInProgress(tables: TestTables, messageId: string) {
  return tables.client.send(
    new PutCommand({
      TableName: tables.tables.Notifications,
      Item: {
        pk: `message#${messageId}`,
        sk: 'message',
        acceptedAt: new Date().toISOString(),
        status: 'posting',
        owner: 'a-run-that-never-ends',
        leaseUntilMs: Date.now() + 3_600_000,
        expiresAt: Math.floor(Date.now() / 1000) + 3600,
      },
    }),
  );
}

function release(tables: TestTables, messageId: string) {
  return tables.client.send(new DeleteCommand({ TableName: tables.tables.Notifications, Key: { pk: `message#${messageId}`, sk: 'message' } }));
}

async function produce(httpUrl: string, values: unknown[]) {
  const response = await fetch(`${httpUrl}/_local/topics/${TOPIC}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(values),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

async function parked(httpUrl: string): Promise<{ key: string; records: ParkedRecord[] }[]> {
  return ((await (await fetch(`${httpUrl}/_local/parked`)).json()) as { parked: { key: string; records: ParkedRecord[] }[] }).parked;
}

function capture(): CommandOutput & { lines: string[] } {
  const lines: string[] = [];
  return { lines, out: (text) => lines.push(text), err: (text) => lines.push(text) };
}

describe('local MSK stand-in: a record that keeps failing', () => {
  it('delivers the records before and after it, parks it whole with its reason, and the replay delivers it exactly once', async () => {
    // Prepare
    const { runtime, tables, client } = await start();
    const [before, stuck, after] = [1, 2, 3].map((n) => notificationRecord({ targetUserId: USER }, { title: `record ${n}` }));
    await holdInProgress(tables, stuck!.messageId);

    // Act
    const answer = await produce(runtime.httpUrl, [before, stuck, after]);

    // Assess: the trigger retried from the failed record, bisected, gave up on it alone.
    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({ errorType: 'RetryAttemptsExhausted', parked: [1] });
    expect((answer.body.invocations as unknown[]).length).toBe(5);
    expect((await client.next((frame) => frame.type === 'notification')).messageId).toBe(before!.messageId);
    expect((await client.next((frame) => frame.type === 'notification')).messageId).toBe(after!.messageId);
    const [batch, ...others] = await parked(runtime.httpUrl);
    expect(others).toEqual([]);
    expect(batch!.key).toMatch(/^aws\/lambda\/[0-9a-f-]+\/booking-updates-0\/\d{4}\/\d{2}\/\d{2}\//);
    expect(batch!.records).toEqual([
      {
        topic: TOPIC,
        partition: 0,
        offset: 1,
        value: JSON.stringify(stuck),
        // The first invocation and three retries (deployment.kafka.retry_attempts unset: 3).
        reason: expect.stringMatching(/^RetryAttemptsExhausted, after 4 invocations, reported in batchItemFailures, at /),
      },
    ]);

    // Act: a dry run shows it and changes nothing; once the fault is gone the replay publishes it.
    const dryRun = capture();
    expect(await replay(['--dry-run', '--url', runtime.httpUrl], dryRun)).toBe(0);
    expect(dryRun.lines.join('\n')).toContain(`${TOPIC}-0@1  RetryAttemptsExhausted`);
    expect(await parked(runtime.httpUrl)).toHaveLength(1);
    await release(tables, stuck!.messageId);
    const output = capture();
    const code = await replay(['--url', runtime.httpUrl], output);

    // Assess
    expect(code, output.lines.join('\n')).toBe(0);
    expect(output.lines.join('\n')).toContain(`${TOPIC}-0@1  RetryAttemptsExhausted, after 4 invocations`);
    expect((await client.next((frame) => frame.type === 'notification')).messageId).toBe(stuck!.messageId);
    expect(await parked(runtime.httpUrl)).toEqual([]);
    // Nothing left to replay, and Kafka redelivering the record now finds it delivered.
    const again = capture();
    expect(await replay(['--url', runtime.httpUrl], again)).toBe(0);
    expect(again.lines).toEqual([`nothing parked in ${runtime.httpUrl}/_local/parked`]);
    expect((await produce(runtime.httpUrl, [stuck])).body).toMatchObject({ duplicates: 1 });
    await client.request('heartbeat');
    expect(client.notifications().map((frame) => frame.messageId)).toEqual([before!.messageId, after!.messageId, stuck!.messageId]);
  }, 60_000);

  it('parks the records after it too, never drops them, when the retries run out before bisecting isolates it', async () => {
    // Prepare: one retry (deployment.kafka.retry_attempts = 1).
    const { runtime, tables, client } = await start(1);
    const [before, stuck, after] = [1, 2, 3].map((n) => notificationRecord({ targetUserId: USER }, { title: `record ${n}` }));
    await holdInProgress(tables, stuck!.messageId);

    // Act
    const answer = await produce(runtime.httpUrl, [before, stuck, after]);

    // Assess: the retry from the failed record failed as a whole; that batch is parked whole.
    expect(answer.body).toMatchObject({ parked: [1, 2] });
    const [batch] = await parked(runtime.httpUrl);
    expect(batch!.records.map((record) => [record.offset, record.value])).toEqual([
      [1, JSON.stringify(stuck)],
      [2, JSON.stringify(after)],
    ]);
    expect(batch!.records[0]!.reason).toMatch(/^RetryAttemptsExhausted, after 2 invocations/);

    // Act: the replay, once the fault is gone, delivers both, in their order.
    await release(tables, stuck!.messageId);
    expect(await replay(['--url', runtime.httpUrl], capture())).toBe(0);

    // Assess
    await client.next((frame) => frame.type === 'notification' && frame.messageId === after!.messageId);
    await client.request('heartbeat');
    expect(client.notifications().map((frame) => frame.messageId)).toEqual([before!.messageId, stuck!.messageId, after!.messageId]);
  }, 60_000);
});
