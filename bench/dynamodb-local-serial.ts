import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { Agent } from 'node:http';
import { useLocalAwsIdentity } from '../local/aws-identity.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';

/**
 * Why B5 models the store's latency (docs/benchmarks.md, B5): DynamoDB Local executes
 * requests largely one at a time, so the time of N PutItems sent at once grows with N,
 * where in AWS they would overlap and take about one round trip.
 * `npx tsx bench/dynamodb-local-serial.ts` prints 100 sent one after another and 1, 10
 * and 100 sent at once, medians of several rounds, on a DynamoDB Local of its own (or
 * DYNAMODB_ENDPOINT's).
 */

const REQUESTS = 100;
/** Requests sent at once: a server that overlaps them answers 100 in about the time of 1. */
const SIZES = [1, 10, 100];
const ROUNDS = 5;

async function main(): Promise<void> {
  useLocalAwsIdentity();
  const local = process.env.DYNAMODB_ENDPOINT ? undefined : await startDynamoDbLocal();
  const endpoint = process.env.DYNAMODB_ENDPOINT ?? local!.endpoint;
  // Enough sockets that the client never queues a request: the overlap is DynamoDB Local's to give.
  const client = new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    requestHandler: { httpAgent: new Agent({ keepAlive: true, maxSockets: REQUESTS }) },
  });
  const table = `serial-probe-${Date.now()}`;
  try {
    await client.send(
      new CreateTableCommand({
        TableName: table,
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
    let next = 0;
    const put = () => client.send(new PutItemCommand({ TableName: table, Item: { pk: { S: `item-${next++}` }, body: { S: 'x'.repeat(300) } } }));
    // Warm-up: the JVM compiles the request path, the client opens its sockets.
    for (let round = 0; round < 3; round += 1) await Promise.all(Array.from({ length: REQUESTS }, put));
    const sequential: number[] = [];
    const atOnce = new Map<number, number[]>(SIZES.map((size) => [size, []]));
    for (let round = 0; round < ROUNDS; round += 1) {
      const started = performance.now();
      for (let index = 0; index < REQUESTS; index += 1) await put();
      sequential.push(performance.now() - started);
      for (const size of SIZES) {
        const startedAtOnce = performance.now();
        await Promise.all(Array.from({ length: size }, put));
        atOnce.get(size)!.push(performance.now() - startedAtOnce);
      }
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const show = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(', ');
    const lines = [`${REQUESTS} PutItems one after another: ${median(sequential).toFixed(0)} ms (${show(sequential)})`];
    for (const [size, times] of atOnce) {
      lines.push(
        `${String(size).padStart(3)} at once: median ${median(times).toFixed(1)} ms, ${(median(times) / size).toFixed(2)} ms a request (${show(times)})`,
      );
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    client.destroy();
    await local?.stop();
  }
}

await main();
