import type { ConnectionRef } from '../model.js';
import type { Clock, DeadLetterSink, TimeBudget } from '../ports.js';
import { retryWithinBudget, type RetryTiming } from '../retry.js';
import type { ConnectionDelivery, DeliveryReport } from './connection-delivery.js';
import type { PostDeadLetter } from './dead-letters.js';
import type { Lease } from './lease.js';
import type { PostQuota } from './post-quota.js';

export interface ChunkPosterOptions {
  readonly delivery: ConnectionDelivery;
  /**
   * Where posts that failed for good go.
   * @default - none: failures are counted and logged only
   */
  readonly deadLetters?: DeadLetterSink;
  readonly clock: Clock;
  /** Retries of the dead-letter queue. */
  readonly timing: RetryTiming;
  readonly reserveMs: number;
}

/** One chunk of one notification's audience, and what bounds its posts. */
export interface Chunk {
  readonly messageId: string;
  /** The frame, serialised: every target gets exactly these bytes. */
  readonly data: string;
  readonly refs: readonly ConnectionRef[];
  /** The run's hold on the work: every attempt is fenced on it, and it is renewed while the chunk outlasts half of it. */
  readonly lease: Lease;
  readonly quota: PostQuota;
  readonly budget: TimeBudget;
  /** Attributes for the posts' log lines. */
  readonly context: Record<string, unknown>;
}

/** What became of a chunk's posts, and whether the run still held its lease after them. */
export interface PostedChunk {
  readonly report: DeliveryReport;
  /**
   * False when the lease ran out (or was lost) while posting: another run may own the
   * work now and count the chunk in doubt, so nothing was dead-lettered and the caller
   * records nothing as its own.
   */
  readonly leaseHeld: boolean;
}

/**
 * Posts one chunk under a lease, then dead-letters its failures while the lease is held:
 * the one posting step of the lean path ({@link NotificationDelivery}) and of a shard
 * ({@link ShardWorker}). What becomes of never-attempted targets is the caller's call.
 */
export class ChunkPoster {
  readonly #options: ChunkPosterOptions;

  constructor(options: ChunkPosterOptions) {
    this.#options = options;
  }

  async post(chunk: Chunk): Promise<PostedChunk> {
    const { delivery, clock } = this.#options;
    const { lease, budget } = chunk;
    // Posts are fenced on the lease: none is attempted, or still running, once another
    // run may have taken the work over. A chunk that outlasts half the lease renews it.
    const report = await lease.during(() =>
      delivery.deliver([chunk.refs], chunk.data, {
        context: chunk.context,
        budget,
        quota: chunk.quota,
        postUntilMs: () => lease.fenceMs(),
        nowMs: () => clock.now().getTime(),
      }),
    );
    // A run that may have lost its work sends nothing: the next owner counts the chunk.
    if (!lease.held()) return { report, leaseHeld: false };
    await this.#deadLetter(chunk.messageId, report, budget);
    return { report, leaseHeld: true };
  }

  async #deadLetter(messageId: string, report: DeliveryReport, budget: TimeBudget): Promise<void> {
    const { deadLetters, clock, timing, reserveMs } = this.#options;
    if (!deadLetters || report.failures.length === 0) return;
    const at = clock.now().toISOString();
    const letters: PostDeadLetter[] = report.failures.map((failure) => ({ kind: 'post', messageId, at, ...failure }));
    await retryWithinBudget(() => deadLetters.send(letters), timing, budget, reserveMs);
  }
}
