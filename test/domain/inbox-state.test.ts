import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isRead, markReadState, placeExceptions, type UnreadEntry } from '../../lambdas/domain/inbox-state.js';

/** A store as DynamoDbInboxStore keeps it: the watermark, the state item's exceptions, and the exception items. */
interface Stored {
  readUpTo: string;
  inState: Set<string>;
  asItems: Set<string>;
}

const position = (index: number) => `${String(index).padStart(5, '0')}#m${index}`;
const messageId = (entry: string) => entry.slice(entry.indexOf('#') + 1);

/** The exception items a store reads: those above the watermark (the others stay until their TTL). */
const above = (stored: Stored) => new Set([...stored.asItems].filter((item) => item > stored.readUpTo));

/** One markRead as the store runs it: write after write until nothing is deferred. */
function markRead(stored: Stored, items: readonly string[], target: readonly string[] | 'all', limit: number, perWrite: number): string[] {
  const reported: string[] = [];
  for (let write = 0; write < 200; write++) {
    const state = { readUpTo: stored.readUpTo, readAbove: new Set([...stored.inState, ...above(stored)]) };
    const unread: UnreadEntry[] = items.filter((item) => !isRead(state, item)).map((item) => ({ position: item, messageId: messageId(item) }));
    const change = markReadState(state, unread, target);
    if (!change) return reported;
    const placed = placeExceptions(above(stored), change, limit, perWrite);
    expect(placed.newItems.length).toBeLessThanOrEqual(perWrite);
    stored.readUpTo = change.next.readUpTo;
    stored.inState = new Set(placed.inState);
    for (const item of placed.newItems) stored.asItems.add(item);
    expect(placed.itemsAbove).toBe(above(stored).size > 0);
    reported.push(...placed.changed.map((entry) => entry.messageId));
    if (!placed.deferred) return reported;
  }
  throw new Error('markRead did not settle in 200 writes');
}

describe('inbox read state: the watermark, and exceptions split between the state and items', () => {
  it('judges every item as a plain set of read ids would, with the state item bounded and each read reported once', () => {
    const operation = fc.oneof(
      { weight: 6, arbitrary: fc.record({ kind: fc.constant('ids' as const), picks: fc.array(fc.nat(), { minLength: 1, maxLength: 100 }) }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant('all' as const) }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('arrive' as const), count: fc.integer({ min: 1, max: 30 }) }) },
    );
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 6 }),
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 120 }),
        fc.array(operation, { minLength: 1, maxLength: 25 }),
        (limit, perWrite, initial, operations) => {
          const items = Array.from({ length: initial }, (_, index) => position(index));
          const stored: Stored = { readUpTo: '', inState: new Set(), asItems: new Set() };
          const read = new Set<string>();
          for (const op of operations) {
            if (op.kind === 'arrive') {
              for (let added = 0; added < op.count; added++) items.push(position(items.length));
              continue;
            }
            const target = op.kind === 'all' ? 'all' : [...new Set(op.picks.map((pick) => messageId(items[pick % items.length]!)))];
            const wanted = target === 'all' ? items.map(messageId) : target;
            const newlyRead = wanted.filter((id) => !read.has(id)).sort();
            const reported = markRead(stored, items, target, limit, perWrite);
            expect([...reported].sort()).toEqual(newlyRead);
            for (const id of wanted) read.add(id);

            const state = { readUpTo: stored.readUpTo, readAbove: new Set([...stored.inState, ...above(stored)]) };
            for (const item of items) expect(isRead(state, item), item).toBe(read.has(messageId(item)));
            expect(stored.inState.size).toBeLessThanOrEqual(limit);
            // The state item keeps only exceptions above the watermark.
            for (const item of stored.inState) expect(item > stored.readUpTo).toBe(true);
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
