/**
 * The counts of a delivery (docs/delivery.md, "The promise"), in one place: every shape
 * of counts (a shard's, a notification's, a batch's summary, the stores' attributes, the
 * metrics) is these names, or these names and a few of its own.
 */

/** What became of each target: every target attempted ends in exactly one of these. */
export const TARGET_OUTCOMES = ['delivered', 'gone', 'failed', 'inDoubt'] as const;

/** What the attempts cost on the way: counted per attempt, not per target. */
export const ATTEMPT_COUNTS = ['retried', 'throttled'] as const;

/** Every count, in the order stores and logs write them. */
export const COUNT_NAMES = [...TARGET_OUTCOMES, ...ATTEMPT_COUNTS] as const;

export type TargetOutcome = (typeof TARGET_OUTCOMES)[number];
export type CountName = (typeof COUNT_NAMES)[number];

/** What became of the posts of a chunk, a shard or a whole delivery. */
export interface OutcomeCounts extends Record<CountName, number> {
  /** Accepted by the Management API, once. */
  delivered: number;
  /** 410: the connection was gone and has been removed. */
  gone: number;
  /** Failed after every retry the time allowed; each one is dead-lettered. */
  failed: number;
  /**
   * In doubt: a post whose outcome is unknown (a timeout or reset after the request was
   * written), or a target left unposted by a run that stopped mid-chunk (crashed, or lost
   * its lease). None is posted again; they stay recoverable from history.
   */
  inDoubt: number;
  /** Post attempts that were retries. */
  retried: number;
  /** Attempts answered with 429. */
  throttled: number;
}

export function emptyCounts(): OutcomeCounts {
  return countsFrom(COUNT_NAMES, {});
}

/** Adds `more`'s counts into `into` (its other fields untouched), and returns it. */
export function addCounts<T extends OutcomeCounts>(into: T, more: Readonly<OutcomeCounts>): T {
  for (const name of COUNT_NAMES) into[name] += more[name];
  return into;
}

/** The counts of every part (shard, run) added up. */
export function sumCounts(parts: readonly Readonly<OutcomeCounts>[]): OutcomeCounts {
  return parts.reduce<OutcomeCounts>((sum, part) => addCounts(sum, part), emptyCounts());
}

/** Targets that came to an outcome (each is in exactly one), whatever it was. */
export function sumOfOutcomes(counts: Readonly<OutcomeCounts>): number {
  return TARGET_OUTCOMES.reduce((sum, name) => sum + counts[name], 0);
}

/** Each of `names` read from `values` as a number; 0 where absent (an item written before the count existed). */
export function countsFrom<N extends string>(names: readonly N[], values: Readonly<Record<string, unknown>>): Record<N, number> {
  return Object.fromEntries(names.map((name) => [name, Number(values[name] ?? 0)])) as Record<N, number>;
}
