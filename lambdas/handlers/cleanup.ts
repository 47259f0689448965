import type { Context } from 'aws-lambda';
import { getServices, logger } from '../composition.js';
import type { CleanupSummary } from '../domain/cleanup-service.js';

/**
 * Triggered on a schedule (and on a timer by the local runtime): closes and removes
 * connections silent for longer than `idle_timeout`, and those whose token expired
 * without a `refresh`. The event carries nothing it needs.
 */
export async function handler(_event?: unknown, context?: Context): Promise<CleanupSummary> {
  if (context) logger.addContext(context);
  return getServices().cleanup.run();
}
