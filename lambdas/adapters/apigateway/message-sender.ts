import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import {
  ConnectionGoneError,
  NotificationServiceError,
  ThrottledError,
  TransientError,
} from '../../domain/errors.js';
import type { MessageSender } from '../../domain/ports.js';

export interface ApiGatewayMessageSenderProps {
  /** A client whose endpoint is the stage's Management API (`https://{api}.execute-api.{region}.amazonaws.com/{stage}`). */
  readonly client: ApiGatewayManagementApiClient;
}

const THROTTLING_ERROR_NAMES = new Set(['LimitExceededException', 'ThrottlingException', 'TooManyRequestsException']);

// Failures below the HTTP layer: the request may not have reached API Gateway, or its
// answer did not reach us; another attempt can succeed.
const NETWORK_ERROR_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND']);

interface SdkErrorShape {
  readonly name?: string;
  readonly code?: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
  readonly $fault?: 'client' | 'server';
}

/**
 * {@link MessageSender} over the API Gateway Management API (`@connections`).
 * Translates the SDK's errors into the domain's, so callers decide on retries and
 * removals without knowing the SDK.
 */
export class ApiGatewayMessageSender implements MessageSender {
  readonly #client: ApiGatewayManagementApiClient;

  constructor(props: ApiGatewayMessageSenderProps) {
    this.#client = props.client;
  }

  async post(connectionId: string, data: string): Promise<void> {
    try {
      await this.#client.send(
        new PostToConnectionCommand({ ConnectionId: connectionId, Data: new TextEncoder().encode(data) }),
      );
    } catch (error) {
      throw toDomainError(error, connectionId, 'post to');
    }
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.#client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (error) {
      const translated = toDomainError(error, connectionId, 'close');
      // Closing a socket that is already closed has reached its goal.
      if (translated instanceof ConnectionGoneError) return;
      throw translated;
    }
  }
}

function toDomainError(error: unknown, connectionId: string, action: string): Error {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const status = shape.$metadata?.httpStatusCode;
  const options = { cause: error };

  // 410 Gone: the socket is dead; remove it, do not retry.
  if (shape.name === 'GoneException' || status === 410) return new ConnectionGoneError(connectionId, options);

  if (status === 429 || (shape.name !== undefined && THROTTLING_ERROR_NAMES.has(shape.name))) {
    return new ThrottledError(`Management API throttled the ${action} connection ${connectionId}`, options);
  }
  if ((status !== undefined && status >= 500) || shape.$fault === 'server') {
    return new TransientError(`Management API failed (${status ?? 'server fault'}) to ${action} connection ${connectionId}`, options);
  }
  if (
    shape.name === 'TimeoutError' ||
    shape.name === 'RequestTimeout' ||
    (shape.code !== undefined && NETWORK_ERROR_CODES.has(shape.code))
  ) {
    return new TransientError(`Management API unreachable to ${action} connection ${connectionId}`, options);
  }
  const detail = shape.name ?? (error instanceof Error ? error.message : String(error));
  return new NotificationServiceError(
    `Management API refused to ${action} connection ${connectionId}: ${detail}${status ? ` (HTTP ${status})` : ''}`,
    options,
  );
}
