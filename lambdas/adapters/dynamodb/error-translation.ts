import { ThrottledError, TransientError } from '../../domain/errors.js';

/**
 * SDK errors in, domain errors out. The SDK has already retried throttling and 5xx
 * responses by the time an error reaches us, so what arrives here is final for this call.
 */

const THROTTLING = new Set([
  'ThrottlingException',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'LimitExceededException',
]);

const TRANSIENT = new Set([
  'InternalServerError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
  'TransactionInProgressException',
  'TransactionConflictException',
  'ReplicatedWriteConflictException',
]);

function httpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | undefined)?.$metadata?.httpStatusCode;
}

/** True when a ConditionExpression did not hold (not for transactions: see cancellationReasons). */
export function isConditionalCheckFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

/** The domain's reading of an SDK error; errors it does not recognise pass through unchanged. */
export function translateSdkError(error: unknown, operation: string): unknown {
  const name = errorName(error);
  if (name && THROTTLING.has(name)) {
    return new ThrottledError(`DynamoDB throttled ${operation}`, { cause: error });
  }
  const status = httpStatus(error);
  if ((name && TRANSIENT.has(name)) || (status !== undefined && status >= 500)) {
    return new TransientError(`DynamoDB failed ${operation} (${name ?? status}); worth a retry`, { cause: error });
  }
  const code = (error as { code?: string } | undefined)?.code;
  if (code === 'ECONNRESET' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT' || code === 'EPIPE') {
    return new TransientError(`DynamoDB unreachable during ${operation} (${code})`, { cause: error });
  }
  return error;
}

/** Runs `work`, translating what it throws. */
export async function translatingErrors<T>(operation: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    throw translateSdkError(error, operation);
  }
}

export function errorName(error: unknown): string | undefined {
  return error instanceof Error ? error.name : undefined;
}

/** The per-item codes of a cancelled transaction, in item order; undefined for any other error. */
export function cancellationReasons(error: unknown): string[] | undefined {
  if (errorName(error) !== 'TransactionCanceledException') return undefined;
  const reasons = (error as { CancellationReasons?: { Code?: string }[] }).CancellationReasons ?? [];
  return reasons.map((reason) => reason.Code ?? 'None');
}
