import type { Context } from 'aws-lambda';
import { getApplication } from '../application.js';
import { logger } from '../composition-base.js';
import type { WebSocketEvent, WebSocketResult } from './websocket-event.js';

/** Route `$disconnect`: best effort in AWS; cleanup is the backstop for missed ones. */
export async function handler(event: WebSocketEvent, context?: Context): Promise<WebSocketResult> {
  if (context) logger.addContext(context);
  const { connections, services, presenceChannels } = getApplication();
  const connectionId = event.requestContext.connectionId;
  const removed = await connections.disconnect(connectionId);
  // Only the call that removed the connection gets it: one `leave` per channel.
  if (removed) await presenceChannels.left(removed, removed.channels);
  services.logger.info('disconnected', { connectionId, userId: removed?.userId, known: removed !== undefined });
  return { statusCode: 200 };
}
