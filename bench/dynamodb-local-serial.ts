import { CreateTableCommand, DynamoDBClient, PutItemCommand } from '@aws-sdk/client-dynamodb';
import { Agent } from 'node:http';
import { useLocalAwsIdentity } from '../local/aws-identity.js';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';

/**
 * Why B5 models the store's latency (docs/benchmarks.md, B5): DynamoDB Local executes
 * requests one at a time, so N PutItems sent at once take about as long as N sent one
 * after another. In AWS they would overlap. `npx tsx bench/dynamodb-local-serial.ts`
 * prints both times, several rounds each, on a DynamoDB Local of its own (or
 * DYNAMODB_ENDPOINT's).
 */

const REQUESTS = 100;
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
    const parallel: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      let started = performance.now();
      for (let index = 0; index < REQUESTS; index += 1) await put();
      sequential.push(performance.now() - started);
      started = performance.now();
      await Promise.all(Array.from({ length: REQUESTS }, put));
      parallel.push(performance.now() - started);
    }
    const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
    const show = (values: number[]) => values.map((ms) => ms.toFixed(0)).join(', ');
    process.stdout.write(
      `${REQUESTS} PutItems one after another: median ${median(sequential).toFixed(0)} ms (${show(sequential)})\n` +
        `${REQUESTS} PutItems all at once:       median ${median(parallel).toFixed(0)} ms (${show(parallel)})\n` +
        `at once / one after another: ${(median(parallel) / median(sequential)).toFixed(2)}\n`,
    );
  } finally {
    client.destroy();
    await local?.stop();
  }
}

await main();
