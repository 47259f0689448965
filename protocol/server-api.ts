/**
 * The server API's contract (docs/protocol.md, "Server API"): its routes, limits and
 * error codes. The Lambda handler (lambdas/domain/server-api.ts), the CDK construct
 * (lib/notification-server-api.ts) and the local runtime read them from here.
 */

/** Largest request body accepted, in bytes (UTF-8). */
export const SERVER_API_BODY_LIMIT = 1024 * 1024;
/** Most producer records one `POST /publish` may carry. */
export const PUBLISH_RECORD_LIMIT = 100;
export type ServerApiOperation = 'publish' | 'disconnectUser' | 'presence' | 'stats';

export interface ServerApiRoute {
  readonly method: 'GET' | 'POST';
  /** Path template; `{userId}` is one path segment. */
  readonly path: string;
  readonly operation: ServerApiOperation;
}

/** The one route table of the server API: the CDK construct and the local runtime read it. */
export const SERVER_API_ROUTES: readonly ServerApiRoute[] = [
  { method: 'POST', path: '/publish', operation: 'publish' },
  { method: 'POST', path: '/users/{userId}/disconnect', operation: 'disconnectUser' },
  { method: 'GET', path: '/users/{userId}/presence', operation: 'presence' },
  { method: 'GET', path: '/stats', operation: 'stats' },
];

/** Every error the server API answers with (the `error` field); each is a 4xx. */
export const SERVER_API_ERRORS = {
  not_found: 404,
  method_not_allowed: 405,
  payload_too_large: 413,
  invalid_json: 400,
  invalid_request: 400,
  invalid_records: 400,
} as const;
export type ServerApiErrorCode = keyof typeof SERVER_API_ERRORS;

export interface ServerApiRequest {
  /** HTTP method, any case. */
  readonly method: string;
  /** The path after the stage, still percent-encoded (`/users/alice/presence`). */
  readonly path: string;
  /** The body as text (undefined or '' when there is none). */
  readonly body?: string;
}

export interface ServerApiResponse {
  readonly status: number;
  readonly body: unknown;
}
