import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';

/**
 * Counts the DynamoDB requests of this process and the capacity they consume. A client
 * middleware sets ReturnConsumedCapacity=TOTAL on every command that takes it and adds
 * up the ConsumedCapacity of each answer.
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

export interface MeterReading {
  readonly requests: number;
  readonly readRequests: number;
  readonly writeRequests: number;
  readonly readCapacityUnits: number;
  readonly writeCapacityUnits: number;
  /** Requests per operation, e.g. `{ QueryCommand: 3 }`. */
  readonly byOperation: Readonly<Record<string, number>>;
}

interface ConsumedCapacityShape {
  readonly CapacityUnits?: number;
}

function emptyReading(): { -readonly [K in keyof MeterReading]: MeterReading[K] } & { byOperation: Record<string, number> } {
  return { requests: 0, readRequests: 0, writeRequests: 0, readCapacityUnits: 0, writeCapacityUnits: 0, byOperation: {} };
}

let reading = emptyReading();
const metered = new WeakSet<object>();

function capacityOf(consumed: unknown): number {
  const entries = (Array.isArray(consumed) ? consumed : consumed ? [consumed] : []) as ConsumedCapacityShape[];
  return entries.reduce((sum, entry) => sum + (entry.CapacityUnits ?? 0), 0);
}

type Stack = DynamoDBClient['middlewareStack'];

function attachMeter(stack: Stack): void {
  stack.add(
    (next, context) => async (args) => {
      const kind = METERED[context.commandName ?? ''];
      if (kind) (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const name = context.commandName ?? 'unknown';
      reading.requests += 1;
      reading.byOperation[name] = (reading.byOperation[name] ?? 0) + 1;
      const units = capacityOf((result.output as { ConsumedCapacity?: unknown }).ConsumedCapacity);
      if (kind === 'read') {
        reading.readRequests += 1;
        reading.readCapacityUnits += units;
      } else {
        reading.writeRequests += 1;
        reading.writeCapacityUnits += units;
      }
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

export function resetMeter(): void {
  reading = emptyReading();
}
