import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { MskEvent, MskRecord } from './msk-event.js';

/**
 * What Lambda writes to an S3 on-failure destination when a Kafka event source mapping
 * discards a batch (retries exhausted): its metadata and, in `payload`, the whole event of
 * the failed invocation as a JSON string. SQS and SNS destinations get the same document
 * without `payload`, so without the records' values
 * (https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html).
 */
export interface KafkaFailureRecord {
  readonly requestContext: {
    readonly requestId: string;
    readonly functionArn: string;
    /** `RetryAttemptsExhausted`, or `MaximumPayloadSizeExceeded`. */
    readonly condition: string;
    readonly approximateInvokeCount: number;
  };
  /** null when the batch never reached the function (MaximumPayloadSizeExceeded). */
  readonly responseContext: { readonly statusCode: number; readonly executedVersion: string; readonly functionError?: string } | null;
  readonly version: '1.0';
  /** ISO; when the batch was discarded. */
  readonly timestamp: string;
  readonly KafkaBatchInfo: {
    readonly batchSize: number;
    readonly eventSourceArn?: string;
    readonly bootstrapServers?: string;
    readonly payloadSize: number;
    readonly recordsInfo: Readonly<
      Record<string, { firstRecordOffset: string; lastRecordOffset: string; firstRecordTimestamp: string; lastRecordTimestamp: string }>
    >;
  };
  /** The failed invocation's event, serialised. Only S3 destinations get it. */
  readonly payload: string;
}

/** One record of a discarded batch, as the replay shows and publishes it. */
export interface ParkedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
  /** The record's key, decoded, when it had one. */
  readonly key?: string;
  /** The record's value, decoded (UTF-8), whole. */
  readonly value: string;
  /** Why Lambda gave up on it: the condition, the invocations, the function error if any. */
  readonly reason: string;
}

/** A stored failure record: an S3 object (key) or its local stand-in. */
export interface ParkedObject {
  readonly key: string;
  /** The failure record, JSON ({@link KafkaFailureRecord}). */
  readonly body: string;
  /** ISO; when it was stored. */
  readonly storedAt?: string;
}

/** The local stand-in's event source mapping id, in its object keys. */
export const PARKED_MAPPING_ID = '00000000-0000-0000-0000-00000000fa00';

/** The invocation record of a discarded batch: `event` is the last invocation's. */
export function kafkaFailureRecord(options: {
  readonly event: MskEvent;
  readonly functionArn: string;
  readonly invokeCount: number;
  /** `Unhandled` when the last invocation threw or timed out; absent when it reported the records failed. */
  readonly functionError?: string;
  readonly now?: Date;
}): KafkaFailureRecord {
  const { event } = options;
  const payload = JSON.stringify(event);
  const records = Object.values(event.records).flat();
  const recordsInfo = Object.fromEntries(
    Object.entries(event.records).map(([partitionKey, partitionRecords]) => {
      const first = partitionRecords[0]!;
      const last = partitionRecords.at(-1)!;
      return [
        partitionKey,
        {
          firstRecordOffset: String(first.offset),
          lastRecordOffset: String(last.offset),
          firstRecordTimestamp: new Date(first.timestamp).toISOString(),
          lastRecordTimestamp: new Date(last.timestamp).toISOString(),
        },
      ];
    }),
  );
  return {
    requestContext: {
      requestId: randomUUID(),
      functionArn: options.functionArn,
      condition: 'RetryAttemptsExhausted',
      approximateInvokeCount: options.invokeCount,
    },
    responseContext: { statusCode: 200, executedVersion: '$LATEST', ...(options.functionError ? { functionError: options.functionError } : {}) },
    version: '1.0',
    timestamp: (options.now ?? new Date()).toISOString(),
    KafkaBatchInfo: {
      batchSize: records.length,
      eventSourceArn: event.eventSourceArn,
      bootstrapServers: event.bootstrapServers,
      payloadSize: Buffer.byteLength(payload),
      recordsInfo,
    },
    payload,
  };
}

/**
 * An object key shaped like the ones Lambda writes (`aws/lambda/{mapping}/{topic-partition}/
 * {yyyy}/{mm}/{dd}/{time}-{uuid}`). Nothing reads meaning from it: the replay lists the
 * whole prefix and takes everything from the object's body.
 */
export function parkedObjectKey(mappingId: string, record: KafkaFailureRecord): string {
  const time = new Date(record.timestamp);
  const day = time.toISOString().slice(0, 10).replaceAll('-', '/');
  const stamp = time.toISOString().slice(0, 19).replaceAll(':', '.');
  const partitionKey = Object.keys(record.KafkaBatchInfo.recordsInfo)[0] ?? 'unknown';
  return `${PARKED_KEY_PREFIX}${mappingId}/${partitionKey}/${day}/${stamp}-${randomUUID()}`;
}

/** Where Lambda writes failure records in the bucket. */
export const PARKED_KEY_PREFIX = 'aws/lambda/';

const mskRecordSchema = z.looseObject({
  topic: z.string(),
  partition: z.number().int(),
  offset: z.number().int(),
  key: z.string().nullish(),
  value: z.string().nullish(),
});

const failureRecordSchema = z.looseObject({
  requestContext: z.looseObject({
    condition: z.string(),
    approximateInvokeCount: z.number().optional(),
  }),
  responseContext: z.looseObject({ functionError: z.string().optional() }).nullish(),
  timestamp: z.string().optional(),
  payload: z.string().optional(),
});

const eventSchema = z.looseObject({ records: z.record(z.string(), z.array(mskRecordSchema)) });

/** A body that holds no records to replay, with the reason. */
export class UnreadableFailureRecordError extends Error {
  override readonly name = 'UnreadableFailureRecordError';
}

/**
 * The records of a stored failure record, each with its value decoded and the reason
 * Lambda gave up on it.
 * @throws UnreadableFailureRecordError when the body is not a Kafka failure record, or
 *   carries no payload (an SQS or SNS destination's record: metadata only).
 */
export function readParkedRecords(body: string): ParkedRecord[] {
  let document: z.infer<typeof failureRecordSchema>;
  try {
    document = failureRecordSchema.parse(JSON.parse(body));
  } catch (error) {
    throw new UnreadableFailureRecordError(`not a Lambda failure record: ${(error as Error).message.split('\n')[0]}`);
  }
  if (document.payload === undefined) {
    throw new UnreadableFailureRecordError('the failure record has no payload (metadata only, as SQS and SNS destinations get it): the values are not in it');
  }
  let event: z.infer<typeof eventSchema>;
  try {
    event = eventSchema.parse(JSON.parse(document.payload));
  } catch (error) {
    throw new UnreadableFailureRecordError(`the payload is not a Kafka event: ${(error as Error).message.split('\n')[0]}`);
  }
  const invocations = document.requestContext.approximateInvokeCount;
  const functionError = document.responseContext?.functionError;
  const reason = [
    document.requestContext.condition,
    invocations !== undefined ? `after ${invocations} invocation${invocations === 1 ? '' : 's'}` : undefined,
    functionError ? `function error (${functionError})` : 'reported in batchItemFailures',
    document.timestamp ? `at ${document.timestamp}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  return Object.values(event.records)
    .flat()
    .map((record) => ({
      topic: record.topic,
      partition: record.partition,
      offset: record.offset,
      ...(record.key ? { key: Buffer.from(record.key, 'base64').toString('utf8') } : {}),
      value: Buffer.from(record.value ?? '', 'base64').toString('utf8'),
      reason,
    }));
}

/** The records of one partition of `event` from `offset` on (a retry's batch). */
export function eventFrom(event: MskEvent, records: readonly MskRecord[]): MskEvent {
  const first = records[0]!;
  return { ...event, records: { [`${first.topic}-${first.partition}`]: records } };
}
