import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context, MSKEvent } from 'aws-lambda';
import { kafkaItemIdentifier, sourceRecordsFromMskEvent, type KafkaItemIdentifier } from '../adapters/kafka/msk-event.js';
import { getServices, logger } from '../composition.js';
import type { FanoutSummary } from '../domain/fanout-service.js';

/** The fan-out's answer: Lambda reads `batchItemFailures`; the rest is its summary. */
export interface FanoutResponse extends FanoutSummary {
  /**
   * Kafka partial batch response (event source mapping with `ReportBatchItemFailures`):
   * Lambda redelivers each named `topic-partition` from the named offset. Invalid records
   * are never listed here: they are reported in `invalid` and skipped.
   */
  batchItemFailures: Array<{ itemIdentifier: KafkaItemIdentifier }>;
}

const metrics = new Metrics({ namespace: 'Notifications', serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'notifications' });

/** Triggered by MSK: fans each record out to its WebSocket connections. */
export async function handler(event: MSKEvent, context?: Context): Promise<FanoutResponse> {
  const services = getServices();
  if (context) {
    logger.addContext(context);
    services.deduplicator.registerLambdaContext(context);
  }
  const records = sourceRecordsFromMskEvent(event);
  try {
    const { summary, failedRecords } = await services.fanout.fanOut(records);
    metrics.addMetric('Delivered', MetricUnit.Count, summary.delivered);
    metrics.addMetric('Gone', MetricUnit.Count, summary.gone);
    metrics.addMetric('FanoutFailed', MetricUnit.Count, summary.failed);
    metrics.addMetric('Duplicates', MetricUnit.Count, summary.duplicates);
    metrics.addMetric('InvalidRecords', MetricUnit.Count, summary.invalid.length);
    logger.info('fan-out finished', { ...summary, invalid: summary.invalid.length, failedRecords: failedRecords.length });
    return {
      batchItemFailures: failedRecords.map((record) => ({ itemIdentifier: kafkaItemIdentifier(record) })),
      ...summary,
    };
  } finally {
    metrics.publishStoredMetrics();
  }
}
