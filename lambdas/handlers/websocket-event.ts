import type { Identity } from '../domain/model.js';

/**
 * The parts of API Gateway's WebSocket Lambda events the handlers read. The local
 * runtime builds the same shapes (checked against Powertools parser's schemas).
 */
export interface WebSocketEvent {
  readonly requestContext: {
    readonly connectionId: string;
    readonly routeKey: string;
    readonly eventType?: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    readonly messageId?: string;
    readonly requestId?: string;
    readonly authorizer?: Readonly<Record<string, unknown>> | null;
  };
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
}

export interface WebSocketResult {
  statusCode: number;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * The identity the authorizer put in its context: `userId`, `roles` (a JSON array) and
 * `tokenExpiresAt` (ISO), the token's `exp` as it was at `$connect` (a later `refresh`
 * moves the stored expiry, not this context).
 */
export function identityOf(event: WebSocketEvent): Identity {
  const authorizer = event.requestContext.authorizer ?? {};
  const userId = authorizer.userId;
  if (typeof userId !== 'string' || userId === '') {
    throw new Error('the event carries no authorizer context; is the authorizer attached to $connect?');
  }
  let roles: string[] = [];
  if (typeof authorizer.roles === 'string' && authorizer.roles !== '') {
    const parsed: unknown = JSON.parse(authorizer.roles);
    if (Array.isArray(parsed)) roles = parsed.filter((role): role is string => typeof role === 'string');
  }
  const tokenExpiresAt = authorizer.tokenExpiresAt;
  return { userId, roles, ...(typeof tokenExpiresAt === 'string' && tokenExpiresAt !== '' ? { tokenExpiresAt } : {}) };
}

/** A header, looked up without regard to case as HTTP requires. */
export function headerOf(event: WebSocketEvent, name: string): string | undefined {
  const wanted = name.toLowerCase();
  for (const [key, value] of Object.entries(event.headers ?? {})) {
    if (key.toLowerCase() === wanted) return value ?? undefined;
  }
  return undefined;
}

/** The frame's text, decoded when API Gateway marked it base64. */
export function bodyOf(event: WebSocketEvent): string {
  const body = event.body ?? '';
  return event.isBase64Encoded ? Buffer.from(body, 'base64').toString('utf8') : body;
}
