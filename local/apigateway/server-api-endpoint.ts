import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { APIGatewayProxyEventV2WithIAMAuthorizer } from 'aws-lambda';
import { matchRoute } from '../../lambdas/domain/server-api.js';
import { SERVER_API_BODY_LIMIT } from '../../protocol/server-api.js';
import { SERVER_API } from '../../protocol/routes.js';
import { LOCAL_ACCOUNT } from '../aws-identity.js';
import { readBody, RequestTooLargeError, sendJson } from '../http-messages.js';
import type { LocalFunctions } from '../lambda/functions.js';
import type { SigV4Verifier } from './sigv4-verifier.js';

/**
 * The server API's prefix on the runtime's port: `POST /api/publish` here is
 * `POST {ServerApiUrl}/publish` in AWS.
 */
export const SERVER_API_PREFIX = '/api';
export const SERVER_API_PATH = /^\/api(\/.*)?$/;

export interface ServerApiEndpointOptions {
  readonly functions: LocalFunctions;
  readonly verifier: SigV4Verifier;
  /** The HTTP API's id in the events (`requestContext.apiId`). */
  readonly apiId: string;
}

/**
 * Stands in for the HTTP API with AWS_IAM on every route: a request whose SigV4
 * signature does not verify gets 403 (as API Gateway answers it, before any function
 * runs); a verified one becomes a payload 2.0 event on the ServerApi function, whose
 * answer is sent back as API Gateway would.
 */
export async function handleServerApiRequest(
  options: ServerApiEndpointOptions,
  request: IncomingMessage,
  response: ServerResponse,
  pathAfterPrefix: string,
): Promise<void> {
  let body: Buffer;
  try {
    body = await readBody(request, SERVER_API_BODY_LIMIT);
  } catch (error) {
    if (!(error instanceof RequestTooLargeError)) throw error;
    // Answered before the whole body is read: close the connection after the answer.
    sendJson(
      response,
      413,
      { error: 'payload_too_large', message: `the body is larger than ${SERVER_API_BODY_LIMIT} bytes`, limit: SERVER_API_BODY_LIMIT },
      { connection: 'close' },
    );
    return;
  }
  const url = request.url ?? '/';
  const verified = await options.verifier.verify({ method: request.method ?? 'GET', url, headers: request.headers, body });
  if (!verified.ok) {
    sendJson(response, 403, { error: 'forbidden', message: verified.reason });
    return;
  }
  const event = serverApiEvent(options, request, pathAfterPrefix || '/', body, verified.accessKeyId);
  const outcome = await options.functions.invoke(SERVER_API.id, event, { route: event.routeKey });
  if (!outcome.ok) {
    // What API Gateway answers when the integration fails.
    sendJson(response, 500, { message: 'Internal Server Error' });
    return;
  }
  const result = outcome.result as { statusCode?: number; headers?: Record<string, string>; body?: string } | undefined;
  const text = result?.body ?? '';
  response.writeHead(result?.statusCode ?? 200, { 'content-type': 'application/json', ...result?.headers, 'content-length': Buffer.byteLength(text) });
  response.end(text);
}

/** The payload format 2.0 event API Gateway's HTTP API gives the function (stage `$default`). */
export function serverApiEvent(
  options: Pick<ServerApiEndpointOptions, 'apiId'>,
  request: IncomingMessage,
  rawPath: string,
  body: Buffer,
  accessKeyId: string,
): APIGatewayProxyEventV2WithIAMAuthorizer {
  const method = (request.method ?? 'GET').toUpperCase();
  const rawQueryString = (request.url ?? '').split('?')[1] ?? '';
  let routeKey = '$default';
  try {
    const { route } = matchRoute(method, rawPath);
    routeKey = `${route.method} ${route.path}`;
  } catch {
    // Unmatched requests reach the function through the $default route, as in the stack.
  }
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(request.headers)) if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  const now = new Date();
  const host = headers.host ?? 'localhost';
  return {
    version: '2.0',
    routeKey,
    rawPath,
    rawQueryString,
    headers,
    requestContext: {
      accountId: LOCAL_ACCOUNT,
      apiId: options.apiId,
      domainName: host,
      domainPrefix: host.split('.')[0]!,
      http: {
        method,
        path: rawPath,
        protocol: `HTTP/${request.httpVersion}`,
        sourceIp: request.socket.remoteAddress ?? '127.0.0.1',
        userAgent: headers['user-agent'] ?? '',
      },
      requestId: randomUUID(),
      routeKey,
      stage: '$default',
      time: now.toUTCString(),
      timeEpoch: now.getTime(),
      authorizer: {
        iam: {
          accessKey: accessKeyId,
          accountId: LOCAL_ACCOUNT,
          callerId: accessKeyId,
          cognitoIdentity: null as never,
          principalOrgId: '',
          userArn: `arn:aws:iam::${LOCAL_ACCOUNT}:user/local`,
          userId: accessKeyId,
        },
      },
    },
    ...(body.length > 0 ? { body: body.toString('utf8') } : {}),
    isBase64Encoded: false,
  };
}
