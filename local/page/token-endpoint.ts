import type { IncomingMessage, ServerResponse } from 'node:http';
import * as z from '../../protocol/zod-mini.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import type { Config } from '../../lambdas/config/schema.js';
import { USER_ID } from '../../protocol/channels.js';
import { mintLocalToken } from '../commands/token.js';
import { readBody, sendJson } from '../http-messages.js';

/** `POST /_local/token` (local runtime only): what the demo page logs in with. */
export const TOKEN_PATH = '/_local/token';

const tokenRequest = z.strictObject({
  userId: z.string().check(z.regex(USER_ID, 'a user id')),
  roles: z._default(z.array(z.string().check(z.regex(/^[A-Za-z0-9._:-]{1,64}$/, 'a role name'))).check(z.maxLength(20)), []),
  ttlSeconds: z._default(z.int().check(z.minimum(1), z.maximum(86_400)), 3600),
});

export interface TokenEndpointOptions {
  readonly config: Config;
  /** The runtime's own HS256 secret, the one its authorizer verifies with. */
  readonly jwtSecret: string;
}

/**
 * Mints an HS256 token as `npm run token` does, for any user and roles. It exists only
 * in the local runtime: no deployed stack has it, since anyone reaching it could be anyone.
 */
export async function handleTokenRequest(options: TokenEndpointOptions, request: IncomingMessage, response: ServerResponse): Promise<void> {
  if (request.method !== 'POST') {
    sendJson(response, 405, { message: 'POST {"userId": "...", "roles": [...], "ttlSeconds": 3600}' });
    return;
  }
  let body: unknown;
  try {
    body = JSON.parse((await readBody(request, 16 * 1024)).toString('utf8'));
  } catch {
    sendJson(response, 400, { message: 'the body is not JSON: send {"userId": "...", "roles": [...]}' });
    return;
  }
  const parsed = tokenRequest.safeParse(body);
  if (!parsed.success) {
    sendJson(response, 400, { message: formatZodIssues(parsed.error, { root: 'body', limit: 1 })[0] });
    return;
  }
  const { userId, roles, ttlSeconds } = parsed.data;
  const token = await mintLocalToken({ userId, roles, ttlSeconds }, options.jwtSecret, options.config);
  sendJson(response, 200, { token, userId, roles, expiresAt: new Date(Date.now() + ttlSeconds * 1000).toISOString() });
}
