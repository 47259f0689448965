/** How long to wait between connection attempts. */
export interface BackoffOptions {
  /** Ceiling of the first wait. @default 500 */
  readonly initialDelayMs?: number;
  /** Largest ceiling. @default 30_000 */
  readonly maxDelayMs?: number;
}

/**
 * Exponential backoff with full jitter: the n-th wait is uniform in
 * [0, min(max, initial * 2^n)], so clients cut off together (a deployment, a network
 * blip) do not come back together.
 */
export class Backoff {
  #attempt = 0;
  readonly #initialDelayMs: number;
  readonly #maxDelayMs: number;

  constructor(
    options: BackoffOptions = {},
    private readonly random: () => number = Math.random,
  ) {
    this.#initialDelayMs = options.initialDelayMs ?? 500;
    this.#maxDelayMs = options.maxDelayMs ?? 30_000;
  }

  /** The next wait; `steps` > 1 climbs faster (the server said it is over a limit). */
  next(steps = 1): number {
    const ceiling = Math.min(this.#maxDelayMs, this.#initialDelayMs * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + steps, 30);
    return Math.floor(this.random() * ceiling);
  }

  reset(): void {
    this.#attempt = 0;
  }
}
