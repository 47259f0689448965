import type { ErrorCode } from '../../protocol/error-codes.js';

/** Base of every error the domain raises; adapters translate SDK errors into these. */
export class NotificationServiceError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The user already holds the most connections allowed. */
export class ConnectionLimitError extends NotificationServiceError {
  constructor(
    readonly userId: string,
    readonly limit: number,
    options?: { cause?: unknown },
  ) {
    super(`user ${userId} already holds ${limit} connections`, options);
  }
}

/** 410 Gone: the socket is closed (or not yet open); posting to it cannot succeed now. */
export class ConnectionGoneError extends NotificationServiceError {
  constructor(
    readonly connectionId: string,
    options?: { cause?: unknown },
  ) {
    super(`connection ${connectionId} is gone`, options);
  }
}

/** The store holds no such connection. */
export class ConnectionNotFoundError extends NotificationServiceError {
  constructor(
    readonly connectionId: string,
    options?: { cause?: unknown },
  ) {
    super(`connection ${connectionId} is not known`, options);
  }
}

/** The store or the Management API asked us to slow down (throttling, 429). */
export class ThrottledError extends NotificationServiceError {}

/** A transient failure of a dependency (5xx, timeouts); worth a retry. */
export class TransientError extends NotificationServiceError {}

/**
 * A post whose outcome is unknown: the request may have reached API Gateway and been
 * delivered (a timeout, reset or cut-short answer after writing began). It must never be
 * posted again, since a second post may deliver it twice; the notification stays
 * recoverable (it is in the inbox or history, and `recover` returns it). Deliberately not
 * a TransientError: nothing that retries transient faults may retry this.
 */
export class PostInDoubtError extends NotificationServiceError {
  constructor(
    readonly connectionId: string,
    options?: { cause?: unknown },
  ) {
    super(`post to connection ${connectionId} may have been delivered; it is in doubt and not posted again`, options);
  }
}

/** An error a client sees as an `error` frame with this code. */
export class ProtocolError extends NotificationServiceError {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
