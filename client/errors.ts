import type { ErrorCode } from '../protocol/error-codes.js';

/**
 * Codes the SDK itself reports, beside the server's `error` codes (docs/client.md has
 * the table).
 */
export const CLIENT_ERROR_CODES = [
  'AUTH_REJECTED',
  'HANDSHAKE_FAILED',
  'TOKEN_FAILED',
  'TIMEOUT',
  'HEARTBEAT_TIMEOUT',
  'CONNECTION_LOST',
  'CLOSED',
  'NOT_CONNECTED',
  'INVALID_FRAME',
  'INVALID_ARGUMENT',
  'RECOVERY_INCOMPLETE',
  'RESUBSCRIBE_REJECTED',
  'DISCONNECTED',
  'STORAGE_FAILED',
] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** What every rejected promise and every `error` event carries. */
export class NotificationClientError extends Error {
  /**
   * @param code the server's error code (an `error` frame) or one of {@link CLIENT_ERROR_CODES}
   * @param details what else is known: the handshake's HTTP status, the refused channels, ...
   */
  constructor(
    readonly code: ErrorCode | ClientErrorCode,
    message: string,
    readonly details: Readonly<Record<string, unknown>> = {},
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'NotificationClientError';
  }
}
