import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Counts the DynamoDB requests of this process, the capacity they consume and when each
 * one ran. A client middleware sets ReturnConsumedCapacity=TOTAL on every command that
 * takes it, adds up the ConsumedCapacity of each answer, and notes each request's start
 * and end (`performance.now()`), so that a benchmark can tell how many store round trips
 * ran one after another (`sequentialRoundTrips`).
 *
 * Requests that fail are counted too. A conditional write whose condition is false is
 * billed by AWS although it writes nothing ("DynamoDB still consumes write capacity ...
 * dependent on the size of the item", at least 1 WCU), and its error carries no
 * ConsumedCapacity; the meter bills it itself (`failedConditionalWriteUnits`).
 *
 * B2 measures the production composition (lambdas/composition.ts builds its clients
 * itself, the Powertools persistence layer among them), so the middleware cannot be
 * passed in: it is attached to each DynamoDB client the first time that client sends.
 */

/** Operations that accept ReturnConsumedCapacity, and whether they read or write. */
const METERED: Readonly<Record<string, 'read' | 'write'>> = {
  GetItemCommand: 'read',
  BatchGetItemCommand: 'read',
  QueryCommand: 'read',
  ScanCommand: 'read',
  TransactGetItemsCommand: 'read',
  PutItemCommand: 'write',
  UpdateItemCommand: 'write',
  DeleteItemCommand: 'write',
  BatchWriteItemCommand: 'write',
  TransactWriteItemsCommand: 'write',
};

/** Single-item writes that take a condition and ReturnValuesOnConditionCheckFailure. */
const CONDITIONAL_WRITES = new Set(['PutItemCommand', 'UpdateItemCommand', 'DeleteItemCommand']);

/** One request as the meter saw it. Times are `performance.now()` of this process. */
export interface MeteredRequest {
  /** The SDK command, e.g. `QueryCommand`. */
  readonly operation: string;
  readonly kind: 'read' | 'write';
  /** When the client began the request (the SDK's initialize step). */
  readonly startMs: number;
  /** When the answer (or the error) was back. */
  readonly endMs: number;
  readonly capacityUnits: number;
  /** The error's name when the request failed, e.g. `ConditionalCheckFailedException`. */
  readonly failed?: string;
  /** The table(s) the request named (batches and transactions: each, comma separated). */
  readonly table?: string;
  /** The partition key value it addressed, when it names one (single-item writes and reads, Query). */
  readonly partition?: string;
}

export interface MeterReading {
  /** Every request, failed ones included. */
  readonly requests: number;
  readonly readRequests: number;
  readonly writeRequests: number;
  /** Requests that ended in an error (conditional check failed, throttled, ...). */
  readonly failedRequests: number;
  readonly readCapacityUnits: number;
  /** Failed conditional writes' units included (`failedConditionalWriteUnits`). */
  readonly writeCapacityUnits: number;
  /** Of `writeCapacityUnits`, what failed conditional writes were billed. */
  readonly failedWriteCapacityUnits: number;
  /** Requests per operation, e.g. `{ QueryCommand: 3 }`. */
  readonly byOperation: Readonly<Record<string, number>>;
}

interface ConsumedCapacityShape {
  readonly CapacityUnits?: number;
}

type MutableReading = { -readonly [K in keyof MeterReading]: MeterReading[K] } & { byOperation: Record<string, number> };

function emptyReading(): MutableReading {
  return {
    requests: 0,
    readRequests: 0,
    writeRequests: 0,
    failedRequests: 0,
    readCapacityUnits: 0,
    writeCapacityUnits: 0,
    failedWriteCapacityUnits: 0,
    byOperation: {},
  };
}

let reading = emptyReading();
let log: MeteredRequest[] = [];
const metered = new WeakSet<object>();

function capacityOf(consumed: unknown): number {
  const entries = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as ConsumedCapacityShape[];
  return entries.reduce((sum, entry) => sum + (entry.CapacityUnits ?? 0), 0);
}

// ---- item sizes, for billing failed conditional writes ----

const TYPE_TAGS = new Set(['S', 'N', 'B', 'BOOL', 'NULL', 'L', 'M', 'SS', 'NS', 'BS']);

function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** DynamoDB's size of a number: about one byte per two significant digits, plus one. */
function numberBytes(text: string): number {
  const digits = text.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '');
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

function isAttributeValue(value: unknown): value is Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && TYPE_TAGS.has(keys[0]!);
}

/**
 * The size DynamoDB bills for one attribute value, by its item-size rules (names and
 * values in UTF-8, numbers by significant digits, 3 bytes per list or map plus 1 per
 * element). Takes both the wire form (`{ S: 'x' }`) and a document client's plain value.
 */
function valueBytes(value: unknown): number {
  if (isAttributeValue(value)) {
    const [tag, inner] = Object.entries(value)[0]!;
    switch (tag) {
      case 'S':
        return utf8Bytes(String(inner));
      case 'N':
        return numberBytes(String(inner));
      case 'B':
        return (inner as Uint8Array).byteLength ?? 0;
      case 'BOOL':
      case 'NULL':
        return 1;
      case 'L':
        return 3 + (inner as unknown[]).reduce<number>((sum, element) => sum + 1 + valueBytes(element), 0);
      case 'M':
        return 3 + itemBytes(inner as Record<string, unknown>) + Object.keys(inner as object).length;
      case 'SS':
        return (inner as string[]).reduce((sum, element) => sum + utf8Bytes(element), 0);
      case 'NS':
        return (inner as string[]).reduce((sum, element) => sum + numberBytes(element), 0);
      case 'BS':
        return (inner as Uint8Array[]).reduce((sum, element) => sum + element.byteLength, 0);
    }
  }
  if (value === null || value === undefined || typeof value === 'boolean') return 1;
  if (typeof value === 'string') return utf8Bytes(value);
  if (typeof value === 'number' || typeof value === 'bigint') return numberBytes(String(value));
  if (value instanceof Uint8Array) return value.byteLength;
  if (value instanceof Set) return [...value].reduce<number>((sum, element) => sum + valueBytes(element), 0);
  if (Array.isArray(value)) return 3 + value.reduce<number>((sum, element) => sum + 1 + valueBytes(element), 0);
  if (typeof value === 'object') return 3 + itemBytes(value as Record<string, unknown>) + Object.keys(value).length;
  return 0;
}

/** The size DynamoDB bills for an item: each attribute's name and value. */
export function itemBytes(item: Readonly<Record<string, unknown>> | undefined): number {
  if (!item) return 0;
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8Bytes(name) + valueBytes(value), 0);
}

/**
 * What AWS bills a single-item write whose condition failed: "the size of the item
 * (whether it's an existing item in the table or a new one you are attempting to create
 * or update)", the larger of the two, in 1 KB units, at least 1. The existing item comes
 * back with ReturnValuesOnConditionCheckFailure=ALL_OLD; the new one is the PutItem's
 * `Item` (an UpdateItem's new item is not known here: its existing item stands in).
 */
export function failedConditionalWriteUnits(existingItem: Readonly<Record<string, unknown>> | undefined, newItem?: Readonly<Record<string, unknown>>): number {
  return Math.max(1, Math.ceil(Math.max(itemBytes(existingItem), itemBytes(newItem)) / 1024));
}

/**
 * A canceled TransactWriteItems carries no consumed capacity and AWS documents no rule
 * for it; the meter assumes the floor of one transactional write (2 WCU) per action.
 */
function canceledTransactionUnits(input: Record<string, unknown>): number {
  return 2 * ((input.TransactItems as unknown[] | undefined)?.length ?? 1);
}

type Stack = DynamoDBClient['middlewareStack'];

/** A key attribute's value, from a document client's plain value or the wire form (`{ S: 'x' }`). */
function keyText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (isAttributeValue(value) && 'S' in value) return String(value.S);
  return undefined;
}

/** Where a request went: its table(s) and, for a single item or a Query, the partition key value. */
export function requestTarget(input: Record<string, unknown>): { table?: string; partition?: string } {
  if (typeof input.TableName === 'string') {
    const key = (input.Key ?? input.Item) as Record<string, unknown> | undefined;
    const values = (input.ExpressionAttributeValues ?? {}) as Record<string, unknown>;
    // The first key attribute of the item, or the Query's partition key value (its first placeholder).
    const partition = key ? keyText(Object.values(key)[0]) : keyText(Object.values(values)[0]);
    return { table: input.TableName, ...(partition !== undefined ? { partition } : {}) };
  }
  const batch = (input.RequestItems ?? undefined) as Record<string, unknown> | undefined;
  if (batch) return { table: Object.keys(batch).join(',') };
  const actions = (input.TransactItems ?? []) as Record<string, { TableName?: string }>[];
  const tables = [...new Set(actions.flatMap((action) => Object.values(action).map((inner) => inner.TableName ?? '')))];
  return tables.length > 0 ? { table: tables.join(',') } : {};
}

function record(request: MeteredRequest, failedWriteUnits = 0): void {
  log.push(request);
  reading.requests += 1;
  reading.byOperation[request.operation] = (reading.byOperation[request.operation] ?? 0) + 1;
  if (request.failed) reading.failedRequests += 1;
  if (request.kind === 'read') {
    reading.readRequests += 1;
    reading.readCapacityUnits += request.capacityUnits;
  } else {
    reading.writeRequests += 1;
    reading.writeCapacityUnits += request.capacityUnits;
    reading.failedWriteCapacityUnits += failedWriteUnits;
  }
}

function attachMeter(stack: Stack): void {
  stack.add(
    (next, context) => async (args) => {
      const operation = context.commandName ?? 'unknown';
      const kind = METERED[operation] ?? 'write';
      const input = args.input as Record<string, unknown>;
      // A caller's own setting (INDEXES) is kept: its total is the same.
      if (METERED[operation]) input.ReturnConsumedCapacity ??= 'TOTAL';
      // The existing item prices a failed condition; the caller sees the error as it
      // asked for it (the item is removed again when only the meter wanted it).
      const askedForOldItem = input.ReturnValuesOnConditionCheckFailure !== undefined;
      if (CONDITIONAL_WRITES.has(operation) && input.ConditionExpression !== undefined && !askedForOldItem) {
        input.ReturnValuesOnConditionCheckFailure = 'ALL_OLD';
      }
      const target = requestTarget(input);
      const startMs = performance.now();
      let result: Awaited<ReturnType<typeof next>>;
      try {
        result = await next(args);
      } catch (error) {
        const endMs = performance.now();
        const name = (error as { name?: string }).name ?? 'Error';
        let units = 0;
        if (name === 'ConditionalCheckFailedException') {
          const failure = error as { Item?: Record<string, unknown> };
          units = failedConditionalWriteUnits(failure.Item, operation === 'PutItemCommand' ? (input.Item as Record<string, unknown>) : undefined);
          if (!askedForOldItem) delete failure.Item;
        } else if (name === 'TransactionCanceledException' && operation === 'TransactWriteItemsCommand') {
          const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
          if (reasons.some((reason) => reason.Code === 'ConditionalCheckFailed')) units = canceledTransactionUnits(input);
        }
        // Throttled and invalid requests consume no capacity; they are still requests.
        record({ operation, kind, startMs, endMs, capacityUnits: units, failed: name, ...target }, units);
        throw error;
      }
      const endMs = performance.now();
      const units = capacityOf((result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity);
      record({ operation, kind, startMs, endMs, capacityUnits: units, ...target });
      return result;
    },
    { step: 'initialize', name: 'benchDynamoDbRequestMeter', override: true },
  );
}

let installed = false;

/**
 * From now on, every DynamoDB client of this process (plain or document client) is
 * metered. A document client shares its middleware stack with the client it wraps, so
 * each request is counted once.
 */
export function meterEveryDynamoDbClient(): void {
  if (installed) return;
  installed = true;
  // Every SDK client inherits `send` from the same smithy base class.
  const base = Object.getPrototypeOf(DynamoDBClient.prototype) as { send: (...args: unknown[]) => unknown };
  const send = base.send;
  base.send = function (this: { middlewareStack: Stack }, ...args: unknown[]) {
    if ((this instanceof DynamoDBClient || this instanceof DynamoDBDocumentClient) && !metered.has(this.middlewareStack)) {
      metered.add(this.middlewareStack);
      attachMeter(this.middlewareStack);
    }
    return send.apply(this, args);
  };
}

/** What has been counted since the last reset. */
export function readMeter(): MeterReading {
  return { ...reading, byOperation: { ...reading.byOperation } };
}

/** Every request since the last reset, in the order they ended. */
export function meteredRequests(): readonly MeteredRequest[] {
  return [...log];
}

export function resetMeter(): void {
  reading = emptyReading();
  log = [];
}

// ---- round trips one after another ----

export interface TimedInterval {
  readonly startMs: number;
  readonly endMs: number;
}

/**
 * The number of store round trips that ran one after another: the longest chain of
 * requests each of which started once the one before it had ended. Requests that
 * overlap in time (issued together, or one while another was under way) count once,
 * so two parallel waves of requests count 2 however many requests each holds, and a
 * long request that spans two short sequential ones counts less than the two.
 *
 * The chain is found greedily, by earliest end (the interval-scheduling argument makes
 * that the longest one). Back to back (`start === end` of the one before) is sequential.
 *
 * @param before - only requests that started before this time count (e.g. the time the
 *   first post of a notification reached the Management API).
 */
export function sequentialRoundTrips(intervals: readonly TimedInterval[], before = Number.POSITIVE_INFINITY): number {
  const candidates = intervals.filter((interval) => interval.startMs < before).sort((a, b) => a.endMs - b.endMs);
  let chain = 0;
  let lastEnd = Number.NEGATIVE_INFINITY;
  for (const interval of candidates) {
    if (interval.startMs >= lastEnd) {
      chain += 1;
      lastEnd = interval.endMs;
    }
  }
  return chain;
}
