import { BatchGetCommand, BatchWriteCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ThrottledError } from '../../domain/errors.js';
import { fullJitterDelayMs, realSleep } from '../../domain/retry.js';
import { translatingErrors } from './error-translation.js';

/** BatchWriteItem's limit per request. */
const WRITE_CHUNK = 25;
/** BatchGetItem's limit per request. */
const GET_CHUNK = 100;
/**
 * Unprocessed items mean DynamoDB is shedding load on those partitions; past this many
 * rounds we give up and let the caller's retry (Lambda, Kafka) try again later.
 */
const MAX_ROUNDS = 8;

type Item = Record<string, unknown>;

export type WriteRequest = { readonly PutRequest: { readonly Item: Item } } | { readonly DeleteRequest: { readonly Key: Item } };

/** Writes every request, 25 per call, resubmitting unprocessed items with backoff. */
export async function batchWriteAll(client: DynamoDBDocumentClient, tableName: string, requests: readonly WriteRequest[]): Promise<void> {
  const chunks: WriteRequest[][] = [];
  for (let start = 0; start < requests.length; start += WRITE_CHUNK) {
    chunks.push(requests.slice(start, start + WRITE_CHUNK));
  }
  await Promise.all(chunks.map((chunk) => writeChunk(client, tableName, chunk)));
}

async function writeChunk(client: DynamoDBDocumentClient, tableName: string, chunk: WriteRequest[]): Promise<void> {
  let pending = chunk;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const output = await translatingErrors('BatchWriteItem', () => client.send(new BatchWriteCommand({ RequestItems: { [tableName]: pending as never } })));
    const unprocessed = output.UnprocessedItems?.[tableName] ?? [];
    if (unprocessed.length === 0) return;
    pending = unprocessed as WriteRequest[];
    await realSleep(fullJitterDelayMs(round, 25, 1_000));
  }
  throw new ThrottledError(`DynamoDB left ${pending.length} writes to ${tableName} unprocessed after ${MAX_ROUNDS} rounds`);
}

/** Reads every key, 100 per call, resubmitting unprocessed keys with backoff. Order is not kept. */
export async function batchGetAll(
  client: DynamoDBDocumentClient,
  tableName: string,
  keys: readonly Item[],
  options: { readonly consistentRead?: boolean; readonly projection?: readonly string[] } = {},
): Promise<Item[]> {
  const chunks: Item[][] = [];
  for (let start = 0; start < keys.length; start += GET_CHUNK) chunks.push(keys.slice(start, start + GET_CHUNK));
  const pages = await Promise.all(chunks.map((chunk) => getChunk(client, tableName, chunk, options)));
  return pages.flat();
}

async function getChunk(
  client: DynamoDBDocumentClient,
  tableName: string,
  chunk: Item[],
  options: { readonly consistentRead?: boolean; readonly projection?: readonly string[] },
): Promise<Item[]> {
  const found: Item[] = [];
  // Attribute names go through placeholders: some (`channels`, `connections`) may be reserved words.
  const names = options.projection ? Object.fromEntries(options.projection.map((name, index) => [`#p${index}`, name])) : undefined;
  let pending = chunk;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    const output = await translatingErrors('BatchGetItem', () =>
      client.send(
        new BatchGetCommand({
          RequestItems: {
            [tableName]: {
              Keys: pending,
              ConsistentRead: options.consistentRead ?? false,
              ...(names ? { ProjectionExpression: Object.keys(names).join(', '), ExpressionAttributeNames: names } : {}),
            },
          },
        }),
      ),
    );
    found.push(...(output.Responses?.[tableName] ?? []));
    const unprocessed = output.UnprocessedKeys?.[tableName]?.Keys ?? [];
    if (unprocessed.length === 0) return found;
    pending = unprocessed;
    await realSleep(fullJitterDelayMs(round, 25, 1_000));
  }
  throw new ThrottledError(`DynamoDB left ${pending.length} reads from ${tableName} unprocessed after ${MAX_ROUNDS} rounds`);
}
