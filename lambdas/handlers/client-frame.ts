import type { Context } from 'aws-lambda';
import { getApplication } from '../application.js';
import { logger } from '../composition-base.js';
import { bodyOf, identityOf, type WebSocketEvent, type WebSocketResult } from './websocket-event.js';

/**
 * Every client route (subscribe, unsubscribe, heartbeat, presence, recover, stats and
 * $default) is this: parse the event, hand the frame to the domain, return the reply
 * frame as the route response. Each route still deploys as its own Lambda, so each has
 * its own permissions, concurrency and alarms.
 */
export async function handleClientFrame(event: WebSocketEvent, context?: Context): Promise<WebSocketResult> {
  if (context) logger.addContext(context);
  const { requests } = getApplication();
  const reply = await requests.handle({ connectionId: event.requestContext.connectionId, identity: identityOf(event) }, bodyOf(event));
  return { statusCode: 200, body: JSON.stringify(reply) };
}
