import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, MSKEvent } from 'aws-lambda';
import { decodeMskEvent, kafkaItemIdentifier, readProducerRecord, type KafkaItemIdentifier } from '../adapters/kafka/msk-event.js';
import { logger } from '../composition-base.js';
import { getFanoutParts } from '../composition-fanout.js';
import type { SourceRecord } from '../domain/fanout/source-record.js';
import { UNLIMITED_TIME } from '../domain/retry.js';
import type { FanoutSummary } from '../domain/fanout/fanout-service.js';
import type { TimeBudget } from '../domain/ports.js';
import { addPostMetrics, deliveryMetrics } from './delivery-metrics.js';

/** The fan-out's answer: Lambda reads `batchItemFailures`; the rest is its summary. */
export interface FanoutResponse extends FanoutSummary {
  /**
   * Kafka partial batch response (event source mapping with `ReportBatchItemFailures`):
   * Lambda redelivers each named `topic-partition` from the named offset. Invalid records
   * are never listed here: they are dead-lettered, reported in `invalid` and skipped.
   */
  batchItemFailures: Array<{ itemIdentifier: KafkaItemIdentifier }>;
}

const metrics = deliveryMetrics;

/** The invocation's remaining time, as the domain reads it. */
export function budgetOf(context: Context | undefined): TimeBudget {
  return context ? { remainingMs: () => context.getRemainingTimeInMillis() } : UNLIMITED_TIME;
}

/** Triggered by MSK: fans each record out to its WebSocket connections. */
export async function handler(event: MSKEvent, context?: Context): Promise<FanoutResponse> {
  const { fanout } = getFanoutParts();
  if (context) logger.addContext(context);
  const startedAt = performance.now();
  const messages = decodeMskEvent(event);
  // The raw value travels with each record so that a dead letter can show it.
  const records: SourceRecord[] = messages.map((message) => {
    const record = readProducerRecord(message);
    return 'value' in message ? { ...record, value: message.value } : record;
  });
  try {
    const { summary, failedRecords } = await fanout.fanOut(records, budgetOf(context));
    addPostMetrics(summary);
    metrics.addMetric('Duplicates', MetricUnit.Count, summary.duplicates);
    metrics.addMetric('InvalidRecords', MetricUnit.Count, summary.invalid.length);
    metrics.addMetric('FailedRecords', MetricUnit.Count, failedRecords.length);
    metrics.addMetric('FanoutDuration', MetricUnit.Milliseconds, Math.round(performance.now() - startedAt));
    // End-to-end age: from the record's Kafka timestamp to the end of its delivery.
    const failed = new Set(failedRecords.map((record) => `${record.topic}\u0000${record.partition}`));
    const now = Date.now();
    for (const message of messages) {
      if ('timestamp' in message && !failed.has(`${message.topic}\u0000${message.partition}`)) {
        metrics.addMetric('RecordAge', MetricUnit.Milliseconds, Math.max(0, now - message.timestamp));
      }
    }
    logger.info('fan-out finished', { ...summary, invalid: summary.invalid.length, failedRecords: failedRecords.length });
    return {
      batchItemFailures: failedRecords.map((record) => ({ itemIdentifier: kafkaItemIdentifier(record) })),
      ...summary,
    };
  } finally {
    metrics.publishStoredMetrics();
  }
}
