/**
 * A token bucket in front of the Management API. API Gateway's account quota (10,000
 * requests per second by default) is shared by every post of every function; a fan-out
 * that takes it all throttles `welcome`, `recover` and the other fan-outs. Each fan-out
 * therefore posts at no more than its configured share, spread over its workers.
 */
export interface PostQuota {
  /** Resolves when one more post may start. */
  take(): Promise<void>;
}

/** No limit (tests, the library API). */
export const UNLIMITED_POSTS: PostQuota = { take: async () => {} };

export interface TokenBucketOptions {
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Most tokens held at once; the bucket starts full. @default ratePerSecond, at least 1 */
  readonly burst?: number;
  /** Milliseconds on any monotonic scale; injectable for tests. @default performance.now */
  readonly now?: () => number;
  /** @default setTimeout */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** A token bucket; callers are served in the order they asked. */
export class TokenBucket implements PostQuota {
  readonly #rate: number;
  readonly #burst: number;
  readonly #now: () => number;
  readonly #sleep: (ms: number) => Promise<void>;
  #tokens: number;
  #updatedAt: number;
  #queue: Promise<void> = Promise.resolve();

  constructor(options: TokenBucketOptions) {
    if (!(options.ratePerSecond > 0) || !Number.isFinite(options.ratePerSecond)) {
      throw new RangeError(`ratePerSecond must be a positive number, got ${options.ratePerSecond}`);
    }
    this.#rate = options.ratePerSecond;
    this.#burst = Math.max(1, options.burst ?? Math.floor(options.ratePerSecond));
    this.#now = options.now ?? (() => performance.now());
    this.#sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.#tokens = this.#burst;
    this.#updatedAt = this.#now();
  }

  take(): Promise<void> {
    const turn = this.#queue.then(() => this.#takeOne());
    this.#queue = turn;
    return turn;
  }

  async #takeOne(): Promise<void> {
    for (;;) {
      const now = this.#now();
      this.#tokens = Math.min(this.#burst, this.#tokens + ((now - this.#updatedAt) * this.#rate) / 1000);
      this.#updatedAt = now;
      if (this.#tokens >= 1) {
        this.#tokens -= 1;
        return;
      }
      await this.#sleep(Math.ceil(((1 - this.#tokens) * 1000) / this.#rate));
    }
  }
}
