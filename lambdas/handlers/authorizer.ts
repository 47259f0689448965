import type { APIGatewayAuthorizerResult, Context } from 'aws-lambda';
import { InvalidTokenError } from '../auth/token-verifier.js';
import { logger } from '../composition-base.js';
import { getTokenVerifier } from '../composition-authorizer.js';

/** The parts of API Gateway's WebSocket REQUEST authorizer event that are read here. */
export interface WebSocketAuthorizerEvent {
  readonly methodArn: string;
  readonly queryStringParameters?: Readonly<Record<string, string | undefined>> | null;
  readonly requestContext?: { readonly connectionId?: string };
}

/**
 * `$connect` REQUEST authorizer: verifies `?token=` before the socket exists. Throwing
 * `Unauthorized` makes API Gateway answer 401; the context (strings only) reaches every
 * later event of the connection as `requestContext.authorizer`. The token is never logged.
 */
export async function handler(event: WebSocketAuthorizerEvent, context?: Context): Promise<APIGatewayAuthorizerResult> {
  if (context) logger.addContext(context);
  const tokens = getTokenVerifier();
  const connectionId = event.requestContext?.connectionId;
  try {
    const identity = await tokens.verifyIdentity(event.queryStringParameters?.token);
    return {
      principalId: identity.userId,
      policyDocument: {
        Version: '2012-10-17',
        Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
      },
      context: {
        userId: identity.userId,
        roles: JSON.stringify(identity.roles),
        // $connect stores it; cleanup closes the connection once it has passed.
        ...(identity.tokenExpiresAt !== undefined ? { tokenExpiresAt: identity.tokenExpiresAt } : {}),
      },
    };
  } catch (error) {
    if (error instanceof InvalidTokenError) {
      logger.info('token refused', { connectionId, reason: error.message });
      throw new Error('Unauthorized');
    }
    throw error;
  }
}
