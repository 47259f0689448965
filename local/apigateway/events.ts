import type { IncomingMessage } from 'node:http';
import { randomBytes } from 'node:crypto';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../aws-identity.js';
import { apiGatewayId, requestTime } from './identifiers.js';

/**
 * The Lambda events API Gateway's WebSocket API sends (proxy integration), built from
 * what the runtime saw. Shapes follow the events API Gateway really sends:
 * the REQUEST authorizer event and `$connect` carry the handshake's headers and query;
 * a MESSAGE event carries only the request context and the body; `$disconnect` carries
 * API Gateway's own few headers and the close code and reason.
 */

/** What the handshake request said, captured once for the authorizer and `$connect`. */
export interface HandshakeRequest {
  readonly headers: Record<string, string>;
  readonly multiValueHeaders: Record<string, string[]>;
  readonly queryStringParameters: Record<string, string> | null;
  readonly multiValueQueryStringParameters: Record<string, string[]> | null;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/** What every event of one connection shares. */
export interface ConnectionIdentity {
  readonly connectionId: string;
  readonly connectedAt: number;
  readonly apiId: string;
  readonly stage: string;
  readonly domainName: string;
  readonly sourceIp: string;
  readonly userAgent?: string;
}

/** `requestContext.authorizer`: the authorizer's context plus its principal. */
export type AuthorizerContext = Readonly<Record<string, string | number | boolean>>;

export function captureHandshake(request: IncomingMessage, port: number): HandshakeRequest {
  const headers: Record<string, string> = {};
  const multiValueHeaders: Record<string, string[]> = {};
  const add = (name: string, value: string) => {
    headers[name] = value;
    (multiValueHeaders[name] ??= []).push(value);
  };
  // API Gateway passes header names as the client spelled them; rawHeaders keeps that.
  for (let index = 0; index + 1 < request.rawHeaders.length; index += 2) {
    add(request.rawHeaders[index]!, request.rawHeaders[index + 1]!);
  }
  const sourceIp = request.socket.remoteAddress ?? '127.0.0.1';
  // Headers API Gateway adds in front of the integration.
  add('X-Amzn-Trace-Id', `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`);
  add('X-Forwarded-For', sourceIp);
  add('X-Forwarded-Port', String(port));
  add('X-Forwarded-Proto', 'http');

  const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
  let queryStringParameters: Record<string, string> | null = null;
  let multiValueQueryStringParameters: Record<string, string[]> | null = null;
  for (const [name, value] of query) {
    (queryStringParameters ??= {})[name] = value;
    ((multiValueQueryStringParameters ??= {})[name] ??= []).push(value);
  }
  const userAgent = request.headers['user-agent'];
  return {
    headers,
    multiValueHeaders,
    queryStringParameters,
    multiValueQueryStringParameters,
    sourceIp,
    ...(userAgent !== undefined ? { userAgent } : {}),
  };
}

function requestContext(
  connection: ConnectionIdentity,
  routeKey: string,
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
  authorizer: AuthorizerContext | undefined,
) {
  const now = Date.now();
  return {
    routeKey,
    eventType,
    extendedRequestId: apiGatewayId(),
    requestTime: requestTime(now),
    messageDirection: 'IN' as const,
    stage: connection.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch: now,
    identity: {
      sourceIp: connection.sourceIp,
      ...(connection.userAgent !== undefined ? { userAgent: connection.userAgent } : {}),
    },
    requestId: apiGatewayId(),
    domainName: connection.domainName,
    connectionId: connection.connectionId,
    apiId: connection.apiId,
    ...(authorizer !== undefined ? { authorizer: { ...authorizer } } : {}),
  };
}

export function connectMethodArn(connection: ConnectionIdentity): string {
  return `arn:aws:execute-api:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${connection.apiId}/${connection.stage}/$connect`;
}

/** The WebSocket REQUEST authorizer event (identity source `route.request.querystring.token`). */
export function authorizerEvent(handshake: HandshakeRequest, connection: ConnectionIdentity) {
  return {
    type: 'REQUEST',
    methodArn: connectMethodArn(connection),
    headers: handshake.headers,
    multiValueHeaders: handshake.multiValueHeaders,
    queryStringParameters: handshake.queryStringParameters,
    multiValueQueryStringParameters: handshake.multiValueQueryStringParameters,
    stageVariables: {},
    requestContext: requestContext(connection, '$connect', 'CONNECT', undefined),
    isBase64Encoded: false,
    body: null,
  };
}

export function connectEvent(handshake: HandshakeRequest, connection: ConnectionIdentity, authorizer: AuthorizerContext | undefined) {
  return {
    headers: handshake.headers,
    multiValueHeaders: handshake.multiValueHeaders,
    queryStringParameters: handshake.queryStringParameters,
    multiValueQueryStringParameters: handshake.multiValueQueryStringParameters,
    requestContext: requestContext(connection, '$connect', 'CONNECT', authorizer),
    isBase64Encoded: false,
  };
}

export function messageEvent(connection: ConnectionIdentity, routeKey: string, body: string, authorizer: AuthorizerContext | undefined) {
  return {
    requestContext: { ...requestContext(connection, routeKey, 'MESSAGE', authorizer), messageId: apiGatewayId() },
    body,
    isBase64Encoded: false,
  };
}

export function disconnectEvent(connection: ConnectionIdentity, statusCode: number, reason: string, authorizer: AuthorizerContext | undefined) {
  // The only headers API Gateway sends with $disconnect.
  const headers = { Host: connection.domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
  return {
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([name, value]) => [name, [value]])),
    requestContext: {
      ...requestContext(connection, '$disconnect', 'DISCONNECT', authorizer),
      disconnectStatusCode: statusCode,
      disconnectReason: reason,
    },
    isBase64Encoded: false,
  };
}
