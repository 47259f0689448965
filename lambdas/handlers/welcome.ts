import * as z from '../../protocol/zod-mini.js';
import type { Context } from 'aws-lambda';
import { getApplication } from '../application.js';
import { logger } from '../composition-base.js';

const welcomeEvent = z.object({ connectionId: z.string().check(z.minLength(1)) });

/**
 * Invoked asynchronously by `$connect` (API Gateway cannot send during `$connect`):
 * posts `welcome`, retrying while the new socket is not yet postable.
 */
export async function handler(event: unknown, context?: Context): Promise<{ connectionId: string; outcome: string }> {
  if (context) logger.addContext(context);
  const { connectionId } = welcomeEvent.parse(event);
  const outcome = await getApplication().connections.deliverWelcome(connectionId);
  return { connectionId, outcome };
}
