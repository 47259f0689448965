import { describe, expect, it } from 'vitest';
import { runBatch, type Overlap } from '../../lambdas/domain/fanout/batch.js';

interface Item {
  readonly name: string;
  readonly lane: string;
  readonly overlap: Overlap;
  readonly ms: number;
  readonly fails?: boolean;
}

const user = (name: string, lane: string, userId: string, ms = 20, fails = false): Item => ({ name, lane, overlap: { kind: 'key', key: userId }, ms, fails });
const channel = (name: string, lane: string, ms = 20): Item => ({ name, lane, overlap: { kind: 'everyone' }, ms });

/** Runs the items with timed work, noting when each started and ended (in order of events). */
async function timeline(items: readonly Item[], limit = 10) {
  const events: string[] = [];
  let running = 0;
  let most = 0;
  const failures = await runBatch(items, {
    limit,
    laneOf: (item) => item.lane,
    overlapOf: (item) => item.overlap,
    run: async (item) => {
      running += 1;
      most = Math.max(most, running);
      events.push(`start ${item.name}`);
      await new Promise((resolve) => setTimeout(resolve, item.ms));
      events.push(`end ${item.name}`);
      running -= 1;
      if (item.fails) throw new Error(`${item.name} failed`);
    },
  });
  return {
    events,
    most,
    failures,
    ran: (name: string) => events.includes(`start ${name}`),
    before: (a: string, b: string) => events.indexOf(`end ${a}`) < events.indexOf(`start ${b}`),
  };
}

describe('runBatch', () => {
  it('runs records to different users of one partition side by side', async () => {
    const { most } = await timeline([user('a', 'p0', 'alice'), user('b', 'p0', 'bob'), user('c', 'p0', 'carol')]);
    expect(most).toBe(3);
  });

  it('keeps the order of records to the same user', async () => {
    const { before, most } = await timeline([user('a1', 'p0', 'alice', 30), user('b', 'p0', 'bob'), user('a2', 'p0', 'alice')]);
    expect(before('a1', 'a2')).toBe(true);
    expect(most).toBe(2);
  });

  it('makes a channel or broadcast record wait for every record before it, and every record after it wait for it', async () => {
    const { before: precedes } = await timeline([user('a', 'p0', 'alice', 30), user('b', 'p0', 'bob', 10), channel('news', 'p0'), user('c', 'p0', 'carol')]);
    expect(precedes('a', 'news')).toBe(true);
    expect(precedes('b', 'news')).toBe(true);
    expect(precedes('news', 'c')).toBe(true);
  });

  it('runs partitions independently of each other, channel records included', async () => {
    const { most } = await timeline([channel('x', 'p0', 30), channel('y', 'p1', 30), channel('z', 'p2', 30)]);
    expect(most).toBe(3);
  });

  it('never runs more than `limit` at once', async () => {
    const items = Array.from({ length: 40 }, (_, index) => user(`u${index}`, 'p0', `user-${index}`, 5));
    const { most } = await timeline(items, 7);
    expect(most).toBe(7);
  });

  it('reports the earliest failed record per partition and runs nothing after it that waits for it', async () => {
    // a1 fails: a2 (same user) and the channel record (everyone) must not run; b, before
    // the channel, still runs; another partition is untouched.
    const { failures, ran } = await timeline([
      user('a1', 'p0', 'alice', 10, true),
      user('b', 'p0', 'bob', 30),
      user('a2', 'p0', 'alice'),
      channel('news', 'p0'),
      user('q', 'p1', 'alice'),
    ]);
    expect([...failures.entries()].map(([lane, failure]) => [lane, failure.item.name])).toEqual([['p0', 'a1']]);
    expect(ran('b')).toBe(true);
    expect(ran('a2')).toBe(false);
    expect(ran('news')).toBe(false);
    expect(ran('q')).toBe(true);
  });

  it('still runs the records before a failure that had not started yet, so nothing before it is left undone', async () => {
    // With one slot, b (earlier) waits behind a1... a later failure must not skip an earlier record.
    const { failures, ran } = await timeline(
      [user('a', 'p0', 'alice', 5), user('b', 'p0', 'bob', 5), user('c', 'p0', 'carol', 5, true), user('d', 'p0', 'dave', 5)],
      1,
    );
    expect(ran('a') && ran('b') && ran('c')).toBe(true);
    expect(ran('d')).toBe(false);
    expect(failures.get('p0')?.item.name).toBe('c');
  });
});
