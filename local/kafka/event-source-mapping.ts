import type { FunctionError, InvocationOutcome } from '../lambda/functions.js';
import type { MskEvent, MskRecord } from './msk-event.js';
import { eventFrom, kafkaFailureRecord, type KafkaFailureRecord } from './parked-records.js';

/**
 * The error handling lib/kafka-trigger.ts gives every mapping; test/cdk/kafka-trigger.test.ts
 * holds the template to it, so the stand-in cannot drift from what is deployed.
 */
export const MAPPING_ERROR_HANDLING = { reportBatchItemFailures: true, bisectBatchOnError: true, defaultRetryAttempts: 3 } as const;

/** How the stand-in treats a failing batch: lib/kafka-trigger.ts's settings. */
export interface EventSourceMappingOptions {
  /** Retries of a failing batch before it is discarded to the on-failure destination (`deployment.kafka.retry_attempts`). */
  readonly retryAttempts: number;
  /** Split a batch that failed as a whole in two, and retry each half (`bisectBatchOnError`). */
  readonly bisectBatchOnError: boolean;
  /** The wait before a retry, by retry number (1, 2, ...). Lambda backs off for seconds to minutes; locally it is short. */
  readonly retryDelayMs: (retry: number) => number;
  /** Invokes the function with one batch; never rejects. */
  readonly invoke: (event: MskEvent) => Promise<InvocationOutcome>;
  /** The on-failure destination: receives the invocation record of each discarded batch. */
  readonly discard: (record: KafkaFailureRecord) => void;
  readonly functionArn: string;
}

/** One invocation of the stand-in's run, as the producer endpoint reports it. */
export interface InvocationReport {
  /** Offsets of the batch, first and last. */
  readonly offsets: readonly [number, number];
  readonly outcome: 'ok' | 'partial' | 'error';
  /** The offset the function named in `batchItemFailures` (partial). */
  readonly failedOffset?: number;
  readonly error?: FunctionError;
}

export interface MappingRun {
  readonly invocations: InvocationReport[];
  /** Offsets sent to the on-failure destination. */
  readonly parked: number[];
  /** What the first invocation returned: the fan-out's summary. */
  readonly firstResult?: unknown;
  /** The last function error, if any invocation failed. */
  readonly lastError?: FunctionError;
}

/** Default waits: 50 ms doubling, at most 400 ms. */
export const LOCAL_RETRY_DELAY_MS = (retry: number): number => Math.min(400, 50 * 2 ** (retry - 1));

interface Segment {
  readonly records: readonly MskRecord[];
  /** Retries already spent on these records. */
  readonly retries: number;
}

/**
 * The Kafka event source mapping's handling of one partition's batch, as configured in
 * lib/kafka-trigger.ts (ReportBatchItemFailures, bisectBatchOnError, retryAttempts, an
 * on-failure destination):
 *
 * - `batchItemFailures` naming a record other than the batch's first: the records before
 *   it are done, and the batch is retried from it;
 * - a function error (a throw, a timeout), a failure named at the batch's first record, or
 *   an answer naming no record of the batch: the whole batch failed; with bisecting on,
 *   a batch of two or more records is split in two halves, retried one after the other;
 * - each retry, bisected or not, spends one of `retryAttempts`: a batch that fails with
 *   none left is discarded to the on-failure destination (its invocation record, with the
 *   event) and the partition moves on to what follows it.
 *
 * So no record is dropped unprocessed: each is delivered, or in a discarded batch.
 */
export async function runEventSourceMapping(event: MskEvent, options: EventSourceMappingOptions): Promise<MappingRun> {
  const [records] = Object.values(event.records);
  const run: { invocations: InvocationReport[]; parked: number[]; firstResult?: unknown; lastError?: FunctionError } = { invocations: [], parked: [] };
  const pending: Segment[] = [{ records: records ?? [], retries: 0 }];
  // Invocations that carried each offset: the discarded batch's approximateInvokeCount.
  const invokeCounts = new Map<number, number>();
  while (pending.length > 0) {
    const segment = pending.shift()!;
    if (segment.records.length === 0) continue;
    if (segment.retries > 0) await new Promise((resolve) => setTimeout(resolve, options.retryDelayMs(segment.retries)));
    const batch = eventFrom(event, segment.records);
    const outcome = await options.invoke(batch);
    const offsets = [segment.records[0]!.offset, segment.records.at(-1)!.offset] as const;
    if (run.invocations.length === 0 && outcome.ok) run.firstResult = outcome.result;
    for (const record of segment.records) invokeCounts.set(record.offset, (invokeCounts.get(record.offset) ?? 0) + 1);
    let failedAt: number;
    if (outcome.ok) {
      const failedOffset = firstFailedOffset(outcome.result, segment.records);
      if (failedOffset === undefined) {
        run.invocations.push({ offsets, outcome: 'ok' });
        continue;
      }
      run.invocations.push({ offsets, outcome: 'partial', failedOffset });
      // An answer naming an offset outside the batch is a failure of the whole batch.
      failedAt = Math.max(
        0,
        segment.records.findIndex((record) => record.offset === failedOffset),
      );
    } else {
      run.invocations.push({ offsets, outcome: 'error', error: outcome.error });
      run.lastError = outcome.error;
      failedAt = 0;
    }
    const remaining = segment.records.slice(failedAt);
    if (segment.retries >= options.retryAttempts) {
      const discarded = eventFrom(event, remaining);
      options.discard(
        kafkaFailureRecord({
          event: discarded,
          functionArn: options.functionArn,
          invokeCount: invokeCounts.get(remaining[0]!.offset) ?? 1,
          ...(outcome.ok ? {} : { functionError: 'Unhandled' }),
        }),
      );
      run.parked.push(...remaining.map((record) => record.offset));
      continue;
    }
    const next = { retries: segment.retries + 1 };
    if (failedAt === 0 && options.bisectBatchOnError && remaining.length > 1) {
      const half = Math.ceil(remaining.length / 2);
      pending.unshift({ records: remaining.slice(0, half), ...next }, { records: remaining.slice(half), ...next });
    } else {
      pending.unshift({ records: remaining, ...next });
    }
  }
  return run;
}

/** The offset a Kafka partial batch response names for this batch's partition, if any. */
function firstFailedOffset(result: unknown, records: readonly MskRecord[]): number | undefined {
  const failures = (result as { batchItemFailures?: unknown } | null)?.batchItemFailures;
  if (!Array.isArray(failures) || failures.length === 0) return undefined;
  const { topic, partition } = records[0]!;
  const offsets = failures.flatMap((failure) => {
    // Kafka's itemIdentifier: { partition: "{topic}-{partition}", offset }.
    const item = (failure as { itemIdentifier?: { partition?: unknown; offset?: unknown } } | null)?.itemIdentifier;
    if (item?.partition !== undefined && item.partition !== `${topic}-${partition}`) return [];
    const offset = Number(item?.offset);
    return Number.isInteger(offset) ? [offset] : [-1];
  });
  // A failure Lambda cannot place (no identifier, no offset) fails the whole batch.
  return offsets.length === 0 ? undefined : Math.min(...offsets.map((offset) => (offset < 0 ? records[0]!.offset : offset)));
}
