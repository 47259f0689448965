import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Context } from 'aws-lambda';
import * as z from '../../protocol/zod-mini.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import { logger } from '../composition-base.js';
import { getFanoutParts } from '../composition-fanout.js';
import { NotificationServiceError } from '../domain/errors.js';
import type { ShardRequest } from '../domain/fanout/shard-plan.js';
import type { ShardRunOutcome } from '../domain/fanout/shard-worker.js';
import { addPostMetrics, deliveryMetrics } from './delivery-metrics.js';
import { budgetOf } from './fanout.js';

const metrics = deliveryMetrics;

const shardRequest = z.strictObject({
  messageId: z.string().check(z.minLength(1), z.maxLength(256)),
  planId: z.uuid(),
  index: z.int().check(z.minimum(0)),
  // What the fan-out planned, when it fitted the payload: the worker then reads neither.
  job: z.optional(
    z.strictObject({
      messageId: z.string().check(z.minLength(1), z.maxLength(256)),
      planId: z.uuid(),
      data: z.string().check(z.minLength(2)),
      shardCount: z.int().check(z.minimum(1)),
      targetCount: z.int().check(z.minimum(1)),
      plannedAt: z.string(),
      postsPerSecond: z.number().check(z.minimum(0)),
    }),
  ),
  targets: z.optional(z.array(z.tuple([z.string().check(z.minLength(1)), z.string().check(z.minLength(1))])).check(z.minLength(1))),
});

/** The event is not a shard request: nothing the worker could ever deliver. */
export class InvalidShardRequestError extends NotificationServiceError {}

/** Reads the event the fan-out sends (a {@link ShardRequest}). */
export function parseShardRequest(event: unknown): ShardRequest {
  const result = shardRequest.safeParse(event);
  if (!result.success) {
    const issues = formatZodIssues(result.error);
    throw new InvalidShardRequestError(`not a shard request: ${issues.join('; ')}`);
  }
  const request = result.data;
  if (request.job && (request.job.messageId !== request.messageId || request.job.planId !== request.planId || request.index >= request.job.shardCount)) {
    throw new InvalidShardRequestError("not a shard request: its job is another shard's");
  }
  return request;
}

/**
 * Invoked asynchronously by the fan-out, once per shard of a large audience: posts the
 * shard from where its progress stands. A crash leaves the progress consistent;
 * Lambda's retry (or the fan-out's re-dispatch) resumes it.
 */
export async function handler(event: unknown, context?: Context): Promise<ShardRunOutcome> {
  if (context) logger.addContext(context);
  const request = parseShardRequest(event);
  const startedAt = performance.now();
  try {
    const outcome = await getFanoutParts().shardWorker.run(request, budgetOf(context));
    const { counts } = outcome;
    // Every post a worker could not make is dead-lettered.
    addPostMetrics({ ...counts, deadLettered: counts.failed });
    metrics.addMetric('ShardDuration', MetricUnit.Milliseconds, Math.round(performance.now() - startedAt));
    logger.info('shard run finished', { ...request, status: outcome.status, ...counts });
    return outcome;
  } finally {
    metrics.publishStoredMetrics();
  }
}
