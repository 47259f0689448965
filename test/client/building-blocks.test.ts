import { describe, expect, it } from 'vitest';
import { Backoff } from '../../client/backoff.js';
import { newMessageId } from '../../client/message-id.js';
import { SeenMessages } from '../../client/seen-messages.js';
import { messageId } from '../../protocol/frames.js';

describe('Backoff', () => {
  it('doubles the ceiling from the initial delay up to the maximum', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000 }, () => 0.999999);

    const waits = Array.from({ length: 6 }, () => backoff.next());

    expect(waits).toEqual([99, 199, 399, 799, 999, 999]);
  });

  it('draws each wait uniformly from zero (full jitter)', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 1000 }, () => 0);

    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([0, 0, 0]);
  });

  it('climbs faster with more steps and starts over after reset', () => {
    const backoff = new Backoff({ initialDelayMs: 100, maxDelayMs: 100_000 }, () => 0.5);

    backoff.next(3);
    expect(backoff.next()).toBe(400);
    backoff.reset();
    expect(backoff.next()).toBe(50);
  });
});

describe('SeenMessages', () => {
  it('reports a messageId already seen', () => {
    const seen = new SeenMessages(10);

    expect(seen.add('a')).toBe(true);
    expect(seen.add('a')).toBe(false);
  });

  it('forgets the oldest beyond its capacity', () => {
    const seen = new SeenMessages(3);

    for (const id of ['a', 'b', 'c', 'd']) seen.add(id);

    expect(seen.size).toBe(3);
    expect(seen.has('a')).toBe(false);
    expect(seen.has('d')).toBe(true);
  });
});

describe('newMessageId', () => {
  it('makes v4 UUIDs the protocol accepts', () => {
    const ids = Array.from({ length: 50 }, newMessageId);

    for (const id of ids) expect(messageId.safeParse(id).success).toBe(true);
    expect(new Set(ids).size).toBe(50);
  });
});
