/**
 * How the records of one batch may overlap in time. Order is promised per connection,
 * not per partition: records of different partitions, and records of one partition
 * whose audiences cannot overlap (different target users), go out concurrently; a
 * channel or broadcast record waits for every record before it in its partition, and
 * every record after it waits for it.
 */

/** What a record's audience may share with its neighbours'. */
export type Overlap =
  /** A channel or broadcast: anybody. */
  | { readonly kind: 'everyone' }
  /** One user's connections: only records with the same key. */
  | { readonly kind: 'key'; readonly key: string }
  /** Nobody (a record set aside). */
  | { readonly kind: 'none' };

/** The first record of a lane (partition) that failed, and why. */
export interface LaneFailure<T> {
  readonly item: T;
  readonly error: unknown;
}

interface Lane {
  /** The last `everyone` record: what every later record waits for. */
  barrier: Promise<boolean>;
  /** Every record since that barrier: what the next `everyone` record waits for. */
  sinceBarrier: Promise<boolean>[];
  /** The last record per key since that barrier. */
  byKey: Map<string, Promise<boolean>>;
  /** Index of the first record that failed; no record after it starts any more. */
  haltedAt: number;
  failure?: { readonly index: number; readonly error: unknown };
}

/**
 * Runs `run` for each item, at most `limit` at once, never starting an item before the
 * items of its lane it may overlap with have finished. When an item fails, the items
 * after it in its lane that have not started are not run (the caller reports the
 * failure, and the source redelivers the lane from it); earlier ones still run, so
 * nothing before the reported failure is left undone.
 * @returns per lane, the earliest item that failed.
 */
export async function runBatch<T>(
  items: readonly T[],
  options: { readonly limit: number; readonly laneOf: (item: T) => string; readonly overlapOf: (item: T) => Overlap; readonly run: (item: T) => Promise<void> },
): Promise<Map<string, LaneFailure<T>>> {
  if (!Number.isInteger(options.limit) || options.limit < 1) throw new RangeError(`limit must be a positive integer, got ${options.limit}`);
  const slots = new Slots(options.limit);
  const lanes = new Map<string, Lane>();
  const tasks: Promise<boolean>[] = [];
  items.forEach((item, index) => {
    const laneKey = options.laneOf(item);
    let lane = lanes.get(laneKey);
    if (!lane) {
      lane = { barrier: Promise.resolve(true), sinceBarrier: [], byKey: new Map(), haltedAt: Number.POSITIVE_INFINITY };
      lanes.set(laneKey, lane);
    }
    const overlap = options.overlapOf(item);
    const waitsFor =
      overlap.kind === 'everyone'
        ? [lane.barrier, ...lane.sinceBarrier]
        : overlap.kind === 'key'
          ? [lane.barrier, lane.byKey.get(overlap.key) ?? lane.barrier]
          : [lane.barrier];
    const current = lane;
    const task = (async (): Promise<boolean> => {
      const ready = (await Promise.all(waitsFor)).every(Boolean);
      if (!ready || index > current.haltedAt) return false;
      await slots.take();
      try {
        if (index > current.haltedAt) return false;
        await options.run(item);
        return true;
      } catch (error) {
        current.haltedAt = Math.min(current.haltedAt, index);
        if (!current.failure || index < current.failure.index) current.failure = { index, error };
        return false;
      } finally {
        slots.give();
      }
    })();
    if (overlap.kind === 'everyone') {
      lane.barrier = task;
      lane.sinceBarrier = [];
      lane.byKey.clear();
    } else {
      if (overlap.kind === 'key') lane.byKey.set(overlap.key, task);
      lane.sinceBarrier.push(task);
    }
    tasks.push(task);
  });
  await Promise.all(tasks);
  const failures = new Map<string, LaneFailure<T>>();
  for (const [key, lane] of lanes) if (lane.failure) failures.set(key, { item: items[lane.failure.index]!, error: lane.failure.error });
  return failures;
}

/** A counting semaphore, served in arrival order. */
class Slots {
  #free: number;
  readonly #waiting: (() => void)[] = [];

  constructor(count: number) {
    this.#free = count;
  }

  async take(): Promise<void> {
    if (this.#free > 0) {
      this.#free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.#waiting.push(resolve));
  }

  give(): void {
    const next = this.#waiting.shift();
    if (next) next();
    else this.#free += 1;
  }
}
