import { isServerError, isThrottlingError, isTransientError } from '@smithy/core/retry';
import { NotificationServiceError, ThrottledError, TransientError } from '../domain/errors.js';

/**
 * The one reading of a failed AWS call, shared by every adapter (DynamoDB, Lambda, SQS,
 * the Management API). It is the AWS SDK's own: the error classes of its retry strategy
 * (`@smithy/core/retry`, which `@smithy/service-error-classification` now re-exports),
 * so an adapter calls retryable exactly what the SDK would have retried.
 *
 * - `throttling`: 429, or a throttling name (`ThrottlingException`,
 *   `ProvisionedThroughputExceededException`, `TooManyRequestsException`, ...): slow
 *   down, then retry.
 * - `transient`: 500/502/503/504, a timeout (`TimeoutError`, `RequestTimeout...`), a
 *   network failure with no answer (`ECONNRESET`, `ECONNREFUSED`, `ETIMEDOUT`, `EPIPE`,
 *   `ENOTFOUND`, `EAI_AGAIN`, `EHOSTUNREACH`, `ENETUNREACH`), a clock skew the SDK has
 *   corrected: retry.
 * - `server`: any other 5xx answer: retry.
 * - `refused`: any other answer (4xx): the service refused this request; the same
 *   request again will not help. A clock skew name (`RequestTimeTooSkewed`,
 *   `AccessDeniedException`, ...) the SDK has not corrected is one.
 * - `unknown`: neither an answer nor a known network failure (a bug, a failed
 *   serialization, an abort): not retried.
 *
 * Whether a request without an answer may still have been acted on is not told here:
 * the Management API sender, which alone must know it, decides that before asking.
 */
export type AwsErrorKind = 'throttling' | 'transient' | 'server' | 'refused' | 'unknown';

/** A service's own error names beyond the SDK's lists. */
export interface ServiceErrorNames {
  /** Names meaning "slow down" (SQS's `KmsThrottled`). */
  readonly throttling?: readonly string[];
  /** Names worth a retry (DynamoDB's `TransactionConflictException`). */
  readonly transient?: readonly string[];
}

interface ErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly message?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

function shapeOf(error: unknown): ErrorShape | undefined {
  return typeof error === 'object' && error !== null ? (error as ErrorShape) : undefined;
}

/** The HTTP status of the answer the error carries; undefined when no answer came. */
export function httpStatusOf(error: unknown): number | undefined {
  const status = shapeOf(error)?.$metadata?.httpStatusCode;
  return typeof status === 'number' ? status : undefined;
}

/** What a failed AWS call means for whoever decides on a retry; see {@link AwsErrorKind}. */
export function classifyAwsError(error: unknown, names: ServiceErrorNames = {}): AwsErrorKind {
  // Translated already (by an adapter this call went through): its reading stands.
  if (error instanceof ThrottledError) return 'throttling';
  if (error instanceof TransientError) return 'transient';
  if (error instanceof NotificationServiceError) return 'unknown';
  const shape = shapeOf(error);
  if (!shape) return 'unknown';
  // The SDK's functions read these fields off any object; they type it as SdkError.
  const sdkError = shape as Parameters<typeof isThrottlingError>[0];
  const name = typeof shape.name === 'string' ? shape.name : undefined;
  if (isThrottlingError(sdkError) || (name !== undefined && names.throttling?.includes(name))) return 'throttling';
  if (isTransientError(sdkError) || (name !== undefined && names.transient?.includes(name))) return 'transient';
  if (isServerError(sdkError)) return 'server';
  return httpStatusOf(error) === undefined ? 'unknown' : 'refused';
}

/** True for the kinds worth another attempt: throttling, transient, server. */
export function isRetryableAwsError(error: unknown, names?: ServiceErrorNames): boolean {
  const kind = classifyAwsError(error, names);
  return kind === 'throttling' || kind === 'transient' || kind === 'server';
}

/** `TooManyRequestsException (HTTP 429)`, `ECONNRESET`, `TypeError: ...`: what a message says about the error. */
export function describeAwsError(error: unknown): string {
  const shape = shapeOf(error);
  if (!shape) return String(error);
  const status = httpStatusOf(error);
  const name = typeof shape.name === 'string' && shape.name !== 'Error' ? shape.name : undefined;
  const code = typeof shape.code === 'string' ? shape.code : undefined;
  const label = [name, code].filter((part) => part !== undefined && part !== '').join(' ') || 'Error';
  if (status !== undefined) return `${label} (HTTP ${status})`;
  const message = typeof shape.message === 'string' && shape.message !== '' ? `: ${shape.message}` : '';
  return `${label}${message}`;
}

/**
 * The domain's reading of a retryable failure: ThrottledError or TransientError, the
 * AWS error as its cause (one of them already, returned as it is); undefined when the
 * failure is not worth a retry.
 * @param what - the call that failed, as the message starts: `DynamoDB GetItem`.
 */
export function retryableAwsError(error: unknown, what: string, names?: ServiceErrorNames): ThrottledError | TransientError | undefined {
  if (error instanceof ThrottledError || error instanceof TransientError) return error;
  const options = { cause: error };
  switch (classifyAwsError(error, names)) {
    case 'throttling':
      return new ThrottledError(`${what} was throttled (${describeAwsError(error)})`, options);
    case 'transient':
    case 'server':
      return new TransientError(`${what} failed (${describeAwsError(error)}); worth a retry`, options);
    default:
      return undefined;
  }
}

/**
 * The domain's reading of any failed AWS call: {@link retryableAwsError}, else a
 * NotificationServiceError that no retry will cure. A domain error is returned as it is.
 */
export function awsCallError(error: unknown, what: string, names?: ServiceErrorNames): NotificationServiceError {
  if (error instanceof NotificationServiceError) return error;
  return retryableAwsError(error, what, names) ?? new NotificationServiceError(`${what} was refused: ${describeAwsError(error)}`, { cause: error });
}
