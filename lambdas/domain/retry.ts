import { ThrottledError, TransientError } from './errors.js';
import type { TimeBudget } from './ports.js';

/** How failed attempts are retried: exponential backoff with full jitter. */
export interface RetryPolicy {
  /** Attempts, the first included; fewer when the invocation's time runs out first. */
  readonly attempts: number;
  /** Ceiling of the first backoff; each further one doubles, up to `maxDelayMs`. */
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { attempts: 6, baseDelayMs: 50, maxDelayMs: 2000 };

/**
 * Time kept back from every budget: what an invocation still needs after its last
 * attempt (recording progress, answering Lambda).
 */
export const DEFAULT_TIME_RESERVE_MS = 2000;

/** A budget that never runs out (the library API, tests that do not care). */
export const UNLIMITED_TIME: TimeBudget = { remainingMs: () => Number.POSITIVE_INFINITY };

export interface RetryTiming {
  readonly policy: RetryPolicy;
  /** Waits; injectable so tests need not sleep. */
  readonly sleep: (ms: number) => Promise<void>;
  /** [0, 1); injectable so tests get a fixed jitter. */
  readonly random: () => number;
}

export const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The retry knobs a delivery takes, each optional with its production default. */
export interface RetryOptions {
  /** @default DEFAULT_RETRY_POLICY */
  readonly retry?: RetryPolicy;
  /** Waits between attempts (and polls); injectable so tests need not sleep. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** [0, 1) for backoff jitter; injectable so tests get a fixed one. */
  readonly random?: () => number;
  /** Time kept back from the invocation's budget. @default DEFAULT_TIME_RESERVE_MS */
  readonly reserveMs?: number;
}

/** The timing and reserve for these options, defaults filled in. */
export function retryTimingOf(options: RetryOptions): { readonly timing: RetryTiming; readonly reserveMs: number } {
  return {
    timing: {
      policy: options.retry ?? DEFAULT_RETRY_POLICY,
      sleep: options.sleep ?? realSleep,
      random: options.random ?? Math.random,
    },
    reserveMs: options.reserveMs ?? DEFAULT_TIME_RESERVE_MS,
  };
}

/** Throttling and transient faults are worth another attempt; anything else is final. */
export function isRetryable(error: unknown): boolean {
  return error instanceof ThrottledError || error instanceof TransientError;
}

/**
 * Full jitter: a random wait up to `baseMs` doubled `step` times (capped at `capMs`), so
 * that many callers throttled, or colliding, at once do not come back at once. The one
 * backoff of the service: the domain's retries, the DynamoDB adapters' resubmissions and
 * conflict retries, and the Management API sender's own attempts.
 */
export function fullJitterDelayMs(step: number, baseMs: number, capMs: number, random: () => number = Math.random): number {
  return random() * Math.min(capMs, baseMs * 2 ** step);
}

export function backoffDelayMs(timing: RetryTiming, attempt: number): number {
  return Math.floor(fullJitterDelayMs(attempt - 1, timing.policy.baseDelayMs, timing.policy.maxDelayMs, timing.random));
}

/**
 * Waits before attempt `attempt + 1`, unless the policy's attempts are spent or the
 * wait would leave less than `reserveMs` of the budget.
 * @returns false when there is to be no further attempt.
 */
export async function waitBeforeRetry(timing: RetryTiming, attempt: number, budget: TimeBudget, reserveMs: number): Promise<boolean> {
  if (attempt >= timing.policy.attempts) return false;
  const delay = backoffDelayMs(timing, attempt);
  if (budget.remainingMs() - delay < reserveMs) return false;
  await timing.sleep(delay);
  return true;
}

/**
 * Runs `work` until it succeeds, retrying throttling and transient faults (DynamoDB's
 * after its SDK gave up, a queue's) with backoff within the budget.
 * @throws the last error when it is not retryable or no attempt is left.
 */
export async function retryWithinBudget<T>(work: () => Promise<T>, timing: RetryTiming, budget: TimeBudget, reserveMs: number): Promise<T> {
  for (let attempt = 1; ; attempt += 1) {
    try {
      return await work();
    } catch (error) {
      if (!isRetryable(error) || !(await waitBeforeRetry(timing, attempt, budget, reserveMs))) throw error;
    }
  }
}
