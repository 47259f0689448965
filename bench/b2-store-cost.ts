import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { getServices } from '../lambdas/composition.js';
import { LOCAL_REGION, useLocalAwsIdentity } from '../local/aws-identity.js';
import { createTables } from '../local/dynamodb-local.js';
import { loadProjectConfig } from '../local/jwt-secret.js';
import { PROJECT_ROOT } from '../local/project-root.js';
import { startLocalRuntime } from '../local/runtime.js';
import { childInput, reportProgress, runChildTask } from './child-process.js';
import { meterEveryDynamoDbClient, readMeter, resetMeter, type MeterReading } from './dynamodb-request-meter.js';
import { notificationValue } from './fanout-assembly.js';

/**
 * B2, store cost: DynamoDB requests and capacity units per delivered notification. The
 * local runtime runs in this process (so every function it invokes, workers included,
 * uses this process's DynamoDB clients, all metered) with Config.toml's settings and the
 * environment the CDK stack sets; records go in through its MSK stand-in. Only the
 * Management API is swapped, for a stand-in that accepts every post: the connections
 * are written straight to the store (opening 10,000 WebSockets is B3's business), and
 * the runtime's own Management API would answer 410 for them.
 */

export interface B2Input {
  readonly dynamodbEndpoint: string;
  /** Channel sizes to measure. */
  readonly channelSizes: readonly number[];
  /** Notifications per scenario; the figures are their average. */
  readonly notificationsPerScenario: number;
}

export interface B2Scenario {
  readonly name: string;
  /** Connections the notification is for. */
  readonly audience: number;
  readonly notifications: number;
  readonly deliveries: number;
  readonly requestsPerDelivery: number;
  readonly readRequestsPerDelivery: number;
  readonly capacityUnitsPerDelivery: number;
  /** Requests per notification, whatever its audience. */
  readonly requestsPerNotification: number;
  readonly readCapacityUnitsPerNotification: number;
  readonly writeCapacityUnitsPerNotification: number;
  readonly byOperationPerNotification: Readonly<Record<string, number>>;
}

export interface B2Output {
  readonly scenarios: B2Scenario[];
}

/** A Management API that accepts every post at once, and counts them. */
async function startPostSink(): Promise<{ url: string; posts: () => number; stop: () => Promise<void> }> {
  let posts = 0;
  const server = createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      if (request.method === 'POST' && request.url?.includes('/@connections/')) posts += 1;
      response.writeHead(200, { 'content-length': '0' }).end();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts: () => posts,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * Resolves once `posts()` has reached `expected` and no DynamoDB request has been made
 * for a moment: workers the fan-out started have written their last progress.
 */
async function settled(posts: () => number, expected: number, what: string, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let requests = readMeter().requests;
  let quietSince = Date.now();
  for (;;) {
    await new Promise((wake) => setTimeout(wake, 50));
    const now = readMeter().requests;
    if (now !== requests) {
      requests = now;
      quietSince = Date.now();
    }
    if (posts() >= expected && Date.now() - quietSince >= QUIET_MS) return;
    if (Date.now() > deadline) throw new Error(`${what}: ${posts()} of ${expected} posts after ${timeoutMs / 1000} s`);
  }
}

/** No DynamoDB request for this long after the last post: the delivery is over. */
const QUIET_MS = 500;

/** Connections opened at once while seeding (DynamoDB Local takes transactions one by one per item). */
const SEEDING_AT_ONCE = 64;

/** Opens `count` connections on `channel` (users with `perUser` connections each). */
async function seed(count: number, perUser: number, userPrefix: string, channel: string | undefined): Promise<void> {
  const { connections } = getServices();
  const now = new Date().toISOString();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(SEEDING_AT_ONCE, count) }, async () => {
      while (next < count) {
        const index = next++;
        const userId = `${userPrefix}-${Math.floor(index / perUser)}`;
        await connections.open(
          {
            connectionId: `${userPrefix}-conn-${index}`,
            userId,
            roles: [],
            connectedAt: now,
            lastSeenAt: now,
            channels: channel ? [channel] : [],
          },
          { limit: Math.max(5, perUser), staleBefore: '1970-01-01T00:00:00.000Z' },
        );
      }
    }),
  );
}

function perUnit(reading: MeterReading, notifications: number): Record<string, number> {
  return Object.fromEntries(Object.entries(reading.byOperation).map(([operation, count]) => [operation, count / notifications]));
}

runChildTask(async (): Promise<B2Output> => {
  const input = childInput<B2Input>();
  useLocalAwsIdentity();
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const config = loadProjectConfig(PROJECT_ROOT);
  const client = new DynamoDBClient({ endpoint: input.dynamodbEndpoint, region: LOCAL_REGION });
  const tables = await createTables(client, `bench-b2-${randomUUID().slice(0, 8)}-`);
  client.destroy();

  const sink = await startPostSink();
  const runtime = await startLocalRuntime({
    config,
    dynamodbEndpoint: input.dynamodbEndpoint,
    tables,
    jwtSecret: 'bench-local-secret',
    cleanupIntervalMs: 0,
    logInvocation: () => {},
    notice: (message, fields) => process.stderr.write(`${message} ${JSON.stringify(fields ?? {})}\n`),
  });
  // Everything else as the runtime set it for its functions (and as the CDK stack does).
  process.env.MANAGEMENT_ENDPOINT = sink.url;
  meterEveryDynamoDbClient();

  const topic = config.notification_service.kafka.topics[0]!;
  const measure = async (name: string, audience: number, value: () => string): Promise<B2Scenario> => {
    await settled(sink.posts, sink.posts(), `${name}: before`);
    resetMeter();
    const postsBefore = sink.posts();
    for (let sent = 0; sent < input.notificationsPerScenario; sent += 1) {
      const response = await fetch(`${runtime.httpUrl}/_local/topics/${encodeURIComponent(topic)}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: value(),
      });
      const answer = (await response.json()) as { batchItemFailures?: unknown[] };
      if (!response.ok || (answer.batchItemFailures ?? []).length > 0) {
        throw new Error(`${name}: the fan-out answered HTTP ${response.status} ${JSON.stringify(answer).slice(0, 1000)}`);
      }
    }
    const expected = postsBefore + audience * input.notificationsPerScenario;
    await settled(sink.posts, expected, name);
    const reading = readMeter();
    const deliveries = sink.posts() - postsBefore;
    const notifications = input.notificationsPerScenario;
    if (deliveries !== audience * notifications) {
      throw new Error(`${name}: ${deliveries} posts for ${notifications} notifications to ${audience} connections`);
    }
    return {
      name,
      audience,
      notifications,
      deliveries,
      requestsPerDelivery: reading.requests / deliveries,
      readRequestsPerDelivery: reading.readRequests / deliveries,
      capacityUnitsPerDelivery: (reading.readCapacityUnits + reading.writeCapacityUnits) / deliveries,
      requestsPerNotification: reading.requests / notifications,
      readCapacityUnitsPerNotification: reading.readCapacityUnits / notifications,
      writeCapacityUnitsPerNotification: reading.writeCapacityUnits / notifications,
      byOperationPerNotification: perUnit(reading, notifications),
    };
  };

  const scenarios: B2Scenario[] = [];
  try {
    for (const size of input.channelSizes) {
      const channel = `bench-store-${size}`;
      reportProgress(`channel of ${size}: opening ${size} connections`);
      await seed(size, 1, `b2c${size}`, channel);
      reportProgress(`channel of ${size}: fanning out ${input.notificationsPerScenario} notification${input.notificationsPerScenario === 1 ? '' : 's'}`);
      scenarios.push(await measure(`channel, ${size} subscriber${size === 1 ? '' : 's'}`, size, () => notificationValue({ channel })));
    }
    reportProgress('user with 3 connections');
    await seed(3, 3, 'b2u', undefined);
    scenarios.push(await measure('user, 3 connections', 3, () => notificationValue({ targetUserId: 'b2u-0' })));
    return { scenarios };
  } finally {
    await runtime.stop();
    await sink.stop();
  }
});
