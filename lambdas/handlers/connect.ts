import type { Context } from 'aws-lambda';
import { logger } from '../composition-base.js';
import { getConnectParts } from '../composition-welcome.js';
import { headerOf, identityOf, type WebSocketEvent, type WebSocketResult } from './websocket-event.js';

/**
 * Route `$connect`, after the authorizer: registers the connection under the per-user
 * limit and picks the subprotocol. A non-2xx answer refuses the handshake.
 */
export async function handler(event: WebSocketEvent, context?: Context): Promise<WebSocketResult> {
  if (context) logger.addContext(context);
  const { connections, services } = getConnectParts();
  const connectionId = event.requestContext.connectionId;
  const identity = identityOf(event);
  const offered = (headerOf(event, 'Sec-WebSocket-Protocol') ?? '')
    .split(',')
    .map((protocol) => protocol.trim())
    .filter(Boolean);
  // `?dedupe=1`: the client drops duplicates by stream position (docs/protocol.md section 11).
  const dedupe = event.queryStringParameters?.dedupe === '1';
  const outcome = await connections.connect(connectionId, identity, offered, { dedupe });
  if (outcome.status === 'refused') {
    services.logger.info('connect refused', { connectionId, userId: identity.userId, status: outcome.httpStatus });
    return { statusCode: outcome.httpStatus, body: outcome.reason };
  }
  services.logger.info('connected', { connectionId, userId: identity.userId, subprotocol: outcome.subprotocol });
  return {
    statusCode: 200,
    ...(outcome.subprotocol ? { headers: { 'Sec-WebSocket-Protocol': outcome.subprotocol } } : {}),
  };
}
