import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import type { TableNames } from '../protocol/tables.js';
import { getServices } from '../lambdas/composition.js';
import { LOCAL_REGION, useLocalAwsIdentity } from '../local/aws-identity.js';
import { createTables } from '../local/dynamodb-local.js';
import { loadProjectConfig } from '../local/jwt-secret.js';
import { PROJECT_ROOT } from '../local/project-root.js';
import { startLocalRuntime, type LocalRuntime } from '../local/runtime.js';
import { meterEveryDynamoDbClient, readMeter } from './dynamodb-request-meter.js';

/**
 * The production composition as B2 and B5 measure it: the local runtime inside the
 * benchmark's process (so every function it invokes, workers included, uses this
 * process's DynamoDB clients, all metered) against DynamoDB Local, with Config.toml's
 * settings and the environment the CDK stack sets; records go in through its MSK
 * stand-in. Only the Management API is swapped, for a stand-in that accepts every post:
 * the connections are written straight to the store (opening thousands of WebSockets is
 * B3's business), and the runtime's own Management API would answer 410 for them.
 */

/** A Management API that accepts every post (after `latencyMs`), and notes when posts came. */
export interface PostSink {
  readonly url: string;
  /** Posts received so far. */
  posts(): number;
  /** When the first post of `messageId` reached the sink (`performance.now()`), if one did. */
  firstPostAt(messageId: string): number | undefined;
  /** When the sink last answered a post (`performance.now()`), or undefined. */
  lastAnsweredAt(): number | undefined;
  stop(): Promise<void>;
}

/** The messageId of a posted notification frame (the producer's), or undefined. */
function messageIdOf(body: string): string | undefined {
  try {
    const frame = JSON.parse(body) as { messageId?: unknown; payload?: { notificationId?: unknown } };
    if (typeof frame.messageId === 'string') return frame.messageId;
    if (typeof frame.payload?.notificationId === 'string') return frame.payload.notificationId;
  } catch {
    // Not a frame: counted, not attributed.
  }
  return undefined;
}

/**
 * Runs in this process, so its times are on the meter's clock; it does little work per
 * post (a timer and a JSON parse), next to the fan-out's signing and sending.
 */
export async function startPostSink(latencyMs = 0): Promise<PostSink> {
  let posts = 0;
  let lastAnswered: number | undefined;
  const firstPosts = new Map<string, number>();
  const server = createServer((request, response) => {
    const arrivedAt = performance.now();
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      if (request.method === 'POST' && request.url?.includes('/@connections/')) {
        posts += 1;
        const messageId = messageIdOf(Buffer.concat(chunks).toString('utf8'));
        if (messageId !== undefined && !firstPosts.has(messageId)) firstPosts.set(messageId, arrivedAt);
      }
      const answer = () => {
        lastAnswered = performance.now();
        response.writeHead(200, { 'content-length': '0' }).end();
      };
      if (latencyMs > 0) setTimeout(answer, latencyMs);
      else answer();
    });
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    posts: () => posts,
    firstPostAt: (messageId) => firstPosts.get(messageId),
    lastAnsweredAt: () => lastAnswered,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** No DynamoDB request for this long after the last post: the delivery is over. */
const QUIET_MS = 500;

/**
 * Resolves once `posts()` has reached `expected` and no DynamoDB request has been made
 * for a moment: workers the fan-out started have written their last progress.
 */
export async function settled(posts: () => number, expected: number, what: string, timeoutMs = 120_000): Promise<void> {
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

/** Connections opened at once while seeding (DynamoDB Local takes transactions one by one per item). */
const SEEDING_AT_ONCE = 64;

/** Opens `count` connections, on `channel` if given, for users with `perUser` connections each. */
export async function seedConnections(count: number, perUser: number, userPrefix: string, channel: string | undefined): Promise<void> {
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

export interface MeteredRuntime {
  readonly runtime: LocalRuntime;
  readonly sink: PostSink;
  /** The tables the runtime's functions use (fresh ones, under a random prefix). */
  readonly tables: TableNames;
  /** The first `kafka.topics` topic. */
  readonly topic: string;
  /**
   * Produces these record values as one MSK event on partition 0 and waits for the
   * fan-out's answer; fails when the fan-out fails or reports a batch item failure.
   */
  produce(values: readonly string[], what: string): Promise<void>;
  stop(): Promise<void>;
}

export interface MeteredRuntimeOptions {
  readonly dynamodbEndpoint: string;
  /** Table name prefix, e.g. `bench-b2`. */
  readonly prefix: string;
  /** The Management API stand-in's latency. @default 0 */
  readonly postLatencyMs?: number;
}

export async function startMeteredRuntime(options: MeteredRuntimeOptions): Promise<MeteredRuntime> {
  useLocalAwsIdentity();
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  const config = loadProjectConfig(PROJECT_ROOT);
  const client = new DynamoDBClient({ endpoint: options.dynamodbEndpoint, region: LOCAL_REGION });
  const tables = await createTables(client, `${options.prefix}-${randomUUID().slice(0, 8)}-`);
  client.destroy();

  const sink = await startPostSink(options.postLatencyMs ?? 0);
  const runtime = await startLocalRuntime({
    config,
    dynamodbEndpoint: options.dynamodbEndpoint,
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
  const produce = async (values: readonly string[], what: string): Promise<void> => {
    const response = await fetch(`${runtime.httpUrl}/_local/topics/${encodeURIComponent(topic)}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      // One value is sent as is; several as a JSON array (one record each).
      body: values.length === 1 ? values[0]! : `[${values.join(',')}]`,
    });
    const answer = (await response.json()) as { batchItemFailures?: unknown[] } | null;
    if (!response.ok || (answer?.batchItemFailures ?? []).length > 0) {
      throw new Error(`${what}: the fan-out answered HTTP ${response.status} ${JSON.stringify(answer).slice(0, 1000)}`);
    }
  };
  return {
    runtime,
    sink,
    tables,
    topic,
    produce,
    stop: async () => {
      await runtime.stop();
      await sink.stop();
    },
  };
}
