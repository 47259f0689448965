import type { Clock, Log, TimeBudget } from '../ports.js';

/**
 * Every post attempt and dead letter of a run ends this long before its lease does, so
 * that the next owner (who may take the work the moment the lease ends) never finds one
 * of ours still in flight. Clocks of one region agree to within milliseconds.
 */
export const LEASE_MARGIN_MS = 250;

/** How long a lease lasts past each claim unless configured (`delivery.lease_seconds`). */
export const DEFAULT_LEASE_MS = 60_000;

export interface LeaseOptions {
  readonly clock: Clock;
  readonly log: Log;
  readonly budget: TimeBudget;
  /** Length of each renewal. */
  readonly leaseMs: number;
  /**
   * Moves the lease's end to `untilMs` (a conditional write on the owner).
   * @returns false when another run owns the work now.
   */
  readonly renew: (untilMs: number) => Promise<boolean>;
}

/**
 * A run's hold on its work, as far as the run knows it: where its posts are fenced, and
 * a renewal while a chunk outlasts half the lease (slow answers, retries), so that a
 * chunk that is still making progress is not given up to another run. A run that could
 * not renew in time (its event loop stalled, the store failed) simply meets the fence:
 * no attempt starts that could end after the lease, and nothing is recorded after it.
 */
export class Lease {
  #untilMs: number;
  #lost = false;
  readonly #options: LeaseOptions;

  constructor(untilMs: number, options: LeaseOptions) {
    this.#untilMs = untilMs;
    this.#options = options;
  }

  /** A lease of `leaseMs` from now, never past the invocation's end. */
  static endFrom(nowMs: number, leaseMs: number, budget: TimeBudget): number {
    return nowMs + Math.max(0, Math.min(budget.remainingMs(), leaseMs));
  }

  get untilMs(): number {
    return this.#untilMs;
  }

  /** The last moment any attempt or record of this run may still be running. */
  fenceMs(): number {
    return this.#untilMs - LEASE_MARGIN_MS;
  }

  /** True while the run may still post and record: before the fence, and not known lost. */
  held(): boolean {
    return !this.#lost && this.#options.clock.now().getTime() < this.fenceMs();
  }

  /** Another write (a claim, a completion) moved the lease. */
  movedTo(untilMs: number): void {
    this.#untilMs = untilMs;
  }

  /** Runs `work`, renewing the lease whenever half of the time to its fence has gone by. */
  async during<T>(work: () => Promise<T>): Promise<T> {
    const { leaseMs, clock, budget, renew, log } = this.#options;
    let renewing: Promise<void> | undefined;
    const tick = () => {
      if (renewing || this.#lost) return;
      const nowMs = clock.now().getTime();
      // Renewed once half the time to its fence has gone by: in time, even when the fence
      // (the lease less its margin) comes well before the lease's end.
      if (this.fenceMs() - nowMs > (leaseMs - LEASE_MARGIN_MS) / 2 || nowMs >= this.fenceMs()) return;
      const untilMs = Lease.endFrom(nowMs, leaseMs, budget);
      if (untilMs <= this.#untilMs) return;
      renewing = renew(untilMs)
        .then(
          (renewed) => {
            if (renewed) this.#untilMs = Math.max(this.#untilMs, untilMs);
            else this.#lost = true;
          },
          (error: unknown) => log.warn('could not renew a lease; its fence stands', { error: error instanceof Error ? error.name : String(error) }),
        )
        .finally(() => {
          renewing = undefined;
        });
    };
    const timer = setInterval(tick, Math.max(25, Math.floor(leaseMs / 8)));
    timer.unref?.();
    try {
      return await work();
    } finally {
      clearInterval(timer);
      await renewing;
    }
  }
}
