/**
 * What the app saw, against what it was owed: per client, each notification it was for
 * shown once, and per stream in publish order (which is offset order: the service takes a
 * stream's offsets in the order it accepts its notifications, and each stream here is
 * published by one sequential lane).
 */

/** A notification the run published. */
export interface Published {
  readonly id: string;
  /** `channel#...` or `user#...`: the stream it is on. */
  readonly stream: string;
  /** Its place in its stream's publish order (0, 1, ...). */
  readonly order: number;
  /** ms since the run started, when its POST was sent. */
  readonly sentAt: number;
  /** Part of the calm tail after the faults. */
  readonly calm: boolean;
}

/** One `notification` event of the SDK. */
export interface Shown {
  readonly id: string;
  readonly at: number;
  readonly stream?: string;
  readonly offset?: number;
  readonly epoch?: string;
}

export interface ClientTally {
  readonly userId: string;
  readonly expected: number;
  readonly shown: number;
  readonly missing: readonly string[];
  /** Ids shown more than once, once per extra showing. */
  readonly twice: readonly string[];
  /** Ids shown after one published later on the same stream (or at a lower offset). */
  readonly disorder: readonly string[];
  /** Ids shown that were not for this client. */
  readonly extra: readonly string[];
  /** ms from the end of the last stall to the last notification missing then; 0 when none was. */
  readonly healMs: number | undefined;
}

export interface Tally {
  readonly clients: number;
  readonly notifications: number;
  readonly shown: number;
  readonly missing: number;
  readonly twice: number;
  readonly disorder: number;
  readonly extra: number;
  readonly healP50Ms: number | undefined;
  readonly healP99Ms: number | undefined;
  readonly perClient: readonly ClientTally[];
}

/**
 * @param expected - what the client was for, each at most once
 * @param shown - its `notification` events in the order they came
 * @param healFrom - ms since start when the last stall ended
 */
export function tallyClient(userId: string, expected: readonly Published[], shown: readonly Shown[], healFrom: number): ClientTally {
  const owed = new Map(expected.map((item) => [item.id, item]));
  const seen = new Map<string, number>();
  const twice: string[] = [];
  const extra: string[] = [];
  const disorder: string[] = [];
  // Per stream: the highest publish order and the highest offset (per epoch) shown so far.
  const highest = new Map<string, { order: number; epoch?: string; offset?: number }>();
  for (const event of shown) {
    const count = (seen.get(event.id) ?? 0) + 1;
    seen.set(event.id, count);
    if (count > 1) {
      twice.push(event.id);
      continue;
    }
    const item = owed.get(event.id);
    if (!item) {
      extra.push(event.id);
      continue;
    }
    const before = highest.get(item.stream);
    const offsetBack = before?.offset !== undefined && event.offset !== undefined && before.epoch === event.epoch && event.offset <= before.offset;
    if (before && (item.order < before.order || offsetBack)) disorder.push(event.id);
    highest.set(item.stream, {
      order: Math.max(item.order, before?.order ?? -1),
      epoch: event.epoch ?? before?.epoch,
      offset: event.epoch !== undefined && event.epoch === before?.epoch ? Math.max(event.offset ?? 0, before.offset ?? 0) : event.offset,
    });
  }
  const missing = expected.filter((item) => !seen.has(item.id)).map((item) => item.id);
  // Heal: what was published before the last stall ended and not yet shown by then.
  const shownAt = new Map<string, number>();
  for (const event of shown) if (!shownAt.has(event.id)) shownAt.set(event.id, event.at);
  let healMs: number | undefined = 0;
  for (const item of expected) {
    if (item.calm || item.sentAt > healFrom) continue;
    const at = shownAt.get(item.id);
    if (at === undefined) {
      healMs = undefined;
      break;
    }
    if (at > healFrom) healMs = Math.max(healMs, at - healFrom);
  }
  return { userId, expected: expected.length, shown: expected.length - missing.length, missing, twice, disorder, extra, healMs };
}

export function tallyRun(perClient: readonly ClientTally[]): Tally {
  const sum = (pick: (client: ClientTally) => number) => perClient.reduce((total, client) => total + pick(client), 0);
  const heals = perClient.map((client) => client.healMs).filter((ms): ms is number => ms !== undefined);
  return {
    clients: perClient.length,
    notifications: sum((client) => client.expected),
    shown: sum((client) => client.shown),
    missing: sum((client) => client.missing.length),
    twice: sum((client) => client.twice.length),
    disorder: sum((client) => client.disorder.length),
    extra: sum((client) => client.extra.length),
    healP50Ms: percentile(heals, 0.5),
    healP99Ms: percentile(heals, 0.99),
    perClient,
  };
}

/** The one line `npm run continuity` prints. */
export function tallyLine(tally: Tally): string {
  const ms = (value: number | undefined) => (value === undefined ? 'n/a' : `${Math.round(value)}ms`);
  return (
    `clients=${tally.clients} notifications=${tally.notifications} shown=${tally.shown} missing=${tally.missing} ` +
    `twice=${tally.twice} disorder=${tally.disorder} heal_p50=${ms(tally.healP50Ms)} heal_p99=${ms(tally.healP99Ms)}` +
    (tally.extra > 0 ? ` extra=${tally.extra}` : '')
  );
}

/** Nearest-rank percentile. */
export function percentile(values: readonly number[], quantile: number): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(quantile * sorted.length) - 1))];
}
