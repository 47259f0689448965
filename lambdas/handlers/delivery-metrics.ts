import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';

/** The fan-out's metrics (namespace `Notifications`; the CDK alarms read `FanoutFailed`). */
export const deliveryMetrics = new Metrics({
  namespace: 'Notifications',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'notifications',
});

/** What became of the posts of one invocation, fan-out or worker alike. */
export interface PostCounts {
  readonly delivered: number;
  readonly gone: number;
  readonly retried: number;
  readonly throttled: number;
  readonly failed: number;
  readonly inDoubt: number;
  readonly deadLettered: number;
}

export function addPostMetrics(counts: PostCounts): void {
  deliveryMetrics.addMetric('Delivered', MetricUnit.Count, counts.delivered);
  deliveryMetrics.addMetric('Gone', MetricUnit.Count, counts.gone);
  deliveryMetrics.addMetric('Retried', MetricUnit.Count, counts.retried);
  deliveryMetrics.addMetric('Throttled', MetricUnit.Count, counts.throttled);
  deliveryMetrics.addMetric('FanoutFailed', MetricUnit.Count, counts.failed);
  deliveryMetrics.addMetric('InDoubt', MetricUnit.Count, counts.inDoubt);
  deliveryMetrics.addMetric('DeadLettered', MetricUnit.Count, counts.deadLettered);
}
