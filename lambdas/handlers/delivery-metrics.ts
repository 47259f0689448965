import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { COUNT_NAMES, type CountName, type OutcomeCounts } from '../domain/fanout/outcome-counts.js';

/** The fan-out's metrics (namespace `Notifications`; the CDK alarms read `FanoutFailed`). */
export const deliveryMetrics = new Metrics({
  namespace: 'Notifications',
  serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'notifications',
});

/** What became of the posts of one invocation, fan-out or worker alike. */
export interface PostCounts extends Readonly<OutcomeCounts> {
  readonly deadLettered: number;
}

/** The metric of each count; the CDK alarms read `FanoutFailed`. */
const METRIC_NAMES: Readonly<Record<CountName, string>> = {
  delivered: 'Delivered',
  gone: 'Gone',
  failed: 'FanoutFailed',
  inDoubt: 'InDoubt',
  retried: 'Retried',
  throttled: 'Throttled',
};

export function addPostMetrics(counts: PostCounts): void {
  for (const name of COUNT_NAMES) deliveryMetrics.addMetric(METRIC_NAMES[name], MetricUnit.Count, counts[name]);
  deliveryMetrics.addMetric('DeadLettered', MetricUnit.Count, counts.deadLettered);
}
