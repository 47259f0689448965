import { retryableAwsError, type ServiceErrorNames } from '../aws-errors.js';

/**
 * SDK errors in, domain errors out, by the shared classification (../aws-errors.ts). The
 * SDK has already retried throttling and 5xx responses by the time an error reaches us,
 * so what arrives here is final for this call.
 */

// DynamoDB's own retryable names beyond the SDK's lists: a transaction that lost to a
// concurrent one is worth another attempt (the SDK counts TransactionInProgressException
// as throttling already).
const DYNAMODB_ERROR_NAMES: ServiceErrorNames = {
  transient: ['TransactionConflictException', 'ReplicatedWriteConflictException'],
};

/** True when a ConditionExpression did not hold (not for transactions: see cancellationReasons). */
export function isConditionalCheckFailed(error: unknown): boolean {
  return errorName(error) === 'ConditionalCheckFailedException';
}

/** The domain's reading of an SDK error; errors not worth a retry pass through unchanged. */
export function translateSdkError(error: unknown, operation: string): unknown {
  return retryableAwsError(error, `DynamoDB ${operation}`, DYNAMODB_ERROR_NAMES) ?? error;
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
