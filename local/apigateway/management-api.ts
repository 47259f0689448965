import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, sendEmpty, sendJson } from '../http-messages.js';
import { API_GATEWAY_WEBSOCKET_LIMITS, type WebSocketEndpoint } from './websocket-endpoint.js';

/**
 * `@connections/{connectionId}`, after an optional stage segment, as the Management
 * API client builds it from its endpoint.
 */
export const MANAGEMENT_PATH = /^(?:\/[^/@]+)?\/@connections\/([^/]+)\/?$/;

function sendApiError(response: ServerResponse, status: number, errorType: string, message: string): void {
  // restJson1 clients read the error's name from this header.
  sendJson(response, status, { message }, { 'x-amzn-ErrorType': errorType });
}

/**
 * The API Gateway Management API over HTTP, so the unchanged
 * `@aws-sdk/client-apigatewaymanagementapi` client works with `endpoint` set to the
 * runtime's URL. Signatures are not checked.
 */
export async function handleManagementRequest(
  endpoint: WebSocketEndpoint,
  request: IncomingMessage,
  response: ServerResponse,
  encodedConnectionId: string,
): Promise<void> {
  let connectionId: string;
  try {
    connectionId = decodeURIComponent(encodedConnectionId);
  } catch {
    sendApiError(response, 400, 'BadRequestException', 'Invalid connection id');
    return;
  }
  const gone = () => sendApiError(response, 410, 'GoneException', `Connection ${connectionId} is gone`);
  switch (request.method) {
    case 'POST': {
      const data = await readBody(request);
      if (data.length > API_GATEWAY_WEBSOCKET_LIMITS.messageBytes) {
        sendApiError(response, 413, 'PayloadTooLargeException', `Payload of ${data.length} bytes exceeds ${API_GATEWAY_WEBSOCKET_LIMITS.messageBytes}`);
        return;
      }
      if (endpoint.post(connectionId, data) === 'gone') gone();
      else sendEmpty(response, 200);
      return;
    }
    case 'GET': {
      const description = endpoint.describe(connectionId);
      if (description) sendJson(response, 200, description);
      else gone();
      return;
    }
    case 'DELETE': {
      if (endpoint.delete(connectionId)) sendEmpty(response, 204);
      else gone();
      return;
    }
    default:
      sendApiError(response, 405, 'MethodNotAllowedException', `${request.method} is not supported on @connections`);
  }
}
