import { z } from 'zod';
import { getApplication } from '../application.js';

const welcomeEvent = z.object({ connectionId: z.string().min(1) });

/**
 * Invoked asynchronously by `$connect` (API Gateway cannot send during `$connect`):
 * posts `welcome`, retrying while the new socket is not yet postable.
 */
export async function handler(event: unknown): Promise<{ connectionId: string; outcome: string }> {
  const { connectionId } = welcomeEvent.parse(event);
  const outcome = await getApplication().connections.deliverWelcome(connectionId);
  return { connectionId, outcome };
}
