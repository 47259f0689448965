import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Continuity, readPositions, type ContinuityFrame, type Emission } from '../../client/continuity.js';
import type { RecoveredPayload, StreamPosition } from '../../protocol/types.js';

interface Frame extends ContinuityFrame {
  readonly messageId: string;
}

const frame = (stream: string, offset: number, epoch = 'e1'): Frame => ({ messageId: `${stream}/${epoch}/${offset}`, stream, offset, epoch });
const unpositioned = (messageId: string): Frame => ({ messageId });

/** What the emissions show, as `offset` per notification and `lost from..to` per loss. */
const shown = (emissions: Emission<Frame>[]): string[] =>
  emissions.map((emission) =>
    emission.type === 'notification'
      ? `${emission.frame.epoch ?? '-'}:${emission.frame.offset ?? emission.frame.messageId}`
      : `lost ${emission.lost.from.epoch}:${emission.lost.from.offset}..${emission.lost.to.epoch}:${emission.lost.to.offset}`,
  );

describe('Continuity', () => {
  describe('receive', () => {
    it('starts an unknown stream just before its first frame and shows it', () => {
      const continuity = new Continuity<Frame>();

      const emitted = continuity.receive(frame('channel#news', 7));

      expect(shown(emitted)).toEqual(['e1:7']);
      expect(continuity.position('channel#news')).toEqual({ epoch: 'e1', offset: 7 });
      expect(continuity.needsRecovery).toBe(false);
    });

    it('shows the next offset and drops one at or below the position', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 3 } } });

      const emitted = [frame('channel#news', 4), frame('channel#news', 4), frame('channel#news', 2), frame('channel#news', 5)].flatMap((f) =>
        continuity.receive(f),
      );

      expect(shown(emitted)).toEqual(['e1:4', 'e1:5']);
    });

    it('holds a frame ahead of a gap, asks to recover from the position, and shows both in order once the gap is filled', () => {
      const continuity = new Continuity<Frame>({ positions: { 'user#alice': { epoch: 'e1', offset: 1 } } });

      const held = continuity.receive(frame('user#alice', 3));
      const request = continuity.takeRecoveryRequest();
      const replayed = [frame('user#alice', 2), frame('user#alice', 3)].flatMap((f) => continuity.receive(f));
      const answered = continuity.applyRecovered(request, { count: 2, complete: true, streams: { 'user#alice': { epoch: 'e1', offset: 3 } } });

      expect(held).toEqual([]);
      expect(request).toEqual({ 'user#alice': { epoch: 'e1', offset: 1 } });
      expect(shown(replayed)).toEqual(['e1:2', 'e1:3']);
      expect(answered.emissions).toEqual([]);
      expect(continuity.needsRecovery).toBe(false);
      expect(continuity.heldCount('user#alice')).toBe(0);
    });

    it('holds a frame of another epoch than a known position and asks to recover', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 5 } } });

      expect(continuity.receive(frame('channel#news', 1, 'e2'))).toEqual([]);
      expect(continuity.takeRecoveryRequest()).toEqual({ 'channel#news': { epoch: 'e1', offset: 5 } });
    });

    it('takes the epoch of the first frame after a position at offset 0', () => {
      const continuity = new Continuity<Frame>({ positions: { broadcast: { epoch: '', offset: 0 } } });

      expect(shown(continuity.receive(frame('broadcast', 1, 'e9')))).toEqual(['e9:1']);
      expect(continuity.position('broadcast')).toEqual({ epoch: 'e9', offset: 1 });
    });

    it('shows a frame without a position once per messageId', () => {
      const continuity = new Continuity<Frame>({ unpositionedCapacity: 2 });

      const emitted = ['a', 'b', 'a', 'c', 'a'].flatMap((id) => continuity.receive(unpositioned(id)));

      // `a` was forgotten after `c` (capacity 2), so its third copy is shown again.
      expect(emitted.map((emission) => (emission.type === 'notification' ? emission.frame.messageId : ''))).toEqual(['a', 'b', 'c', 'a']);
    });

    it('drops the newest held frame when the hold buffer is full', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 0 } }, maxHeldPerStream: 2 });

      for (const offset of [5, 3, 4]) continuity.receive(frame('channel#news', offset));

      expect(continuity.heldCount('channel#news')).toBe(2);
      const request = continuity.takeRecoveryRequest();
      // Replays bring 1..5; 5, dropped from the buffer, comes back with them.
      const emitted = [1, 2, 3, 4, 5].flatMap((offset) => continuity.receive(frame('channel#news', offset)));
      continuity.applyRecovered(request, { count: 5, complete: true, streams: { 'channel#news': { epoch: 'e1', offset: 5 } } });
      expect(shown(emitted)).toEqual(['e1:1', 'e1:2', 'e1:3', 'e1:4', 'e1:5']);
    });

    it('shows a stream whose name recover refuses in order of arrival, without holding', () => {
      const continuity = new Continuity<Frame>();

      const emitted = [3, 5, 4, 5].flatMap((offset) => continuity.receive(frame('Not A Stream', offset)));

      expect(shown(emitted)).toEqual(['e1:3', 'e1:5']);
      expect(continuity.needsRecovery).toBe(false);
    });
  });

  describe('observeHeads', () => {
    it('takes the head of an unknown stream, and asks to recover one that is behind', () => {
      const continuity = new Continuity<Frame>({ positions: { 'user#alice': { epoch: 'e1', offset: 4 }, broadcast: { epoch: 'e1', offset: 2 } } });

      continuity.observeHeads({
        'user#alice': { epoch: 'e1', offset: 6 },
        broadcast: { epoch: 'e1', offset: 2 },
        'channel#news': { epoch: 'e1', offset: 40 },
      });

      expect(continuity.takeRecoveryRequest()).toEqual({ 'user#alice': { epoch: 'e1', offset: 4 } });
      expect(continuity.position('channel#news')).toEqual({ epoch: 'e1', offset: 40 });
    });

    it('asks to recover a position of another epoch than the head, and one at offset 0 under a head with something', () => {
      const continuity = new Continuity<Frame>({ positions: { 'user#alice': { epoch: 'e1', offset: 4 }, broadcast: { epoch: '', offset: 0 } } });

      continuity.observeHeads({ 'user#alice': { epoch: 'e2', offset: 1 }, broadcast: { epoch: 'e5', offset: 3 } });

      // At offset 0 any epoch means nothing seen: it asks with the head's epoch.
      expect(continuity.takeRecoveryRequest()).toEqual({ 'user#alice': { epoch: 'e1', offset: 4 }, broadcast: { epoch: 'e5', offset: 0 } });
    });

    it('finds the last notification missed, with nothing newer to show the gap', () => {
      const continuity = new Continuity<Frame>();
      continuity.receive(frame('user#alice', 1));

      continuity.observeHeads({ 'user#alice': { epoch: 'e1', offset: 2 } });

      expect(continuity.wanted).toEqual(['user#alice']);
    });
  });

  describe('applyRecovered', () => {
    it('passes over offsets no frame filled, and still shows one of them that comes late, once', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 1 } } });
      continuity.receive(frame('channel#news', 4));
      const request = continuity.takeRecoveryRequest();

      // 2 replayed; 3 passed over (its notification was still being stored, or a tombstone).
      const replayed = continuity.receive(frame('channel#news', 2));
      const answered = continuity.applyRecovered(request, { count: 1, complete: true, streams: { 'channel#news': { epoch: 'e1', offset: 3 } } });
      const late = [frame('channel#news', 3), frame('channel#news', 3)].flatMap((f) => continuity.receive(f));

      expect(shown([...replayed, ...answered.emissions, ...late])).toEqual(['e1:2', 'e1:4', 'e1:3']);
      expect(continuity.position('channel#news')).toEqual({ epoch: 'e1', offset: 4 });
    });

    it('tells a loss before what follows it, and moves to the answered position', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 2 } } });
      continuity.observeHeads({ 'channel#news': { epoch: 'e1', offset: 9 } });
      const request = continuity.takeRecoveryRequest();

      // 3..6 expired; 7..9 replayed.
      const replayed = [7, 8, 9].flatMap((offset) => continuity.receive(frame('channel#news', offset)));
      const answered = continuity.applyRecovered(request, {
        count: 3,
        complete: true,
        streams: { 'channel#news': { epoch: 'e1', offset: 9, lost: true } },
      });

      expect(replayed).toEqual([]);
      expect(shown(answered.emissions)).toEqual(['lost e1:2..e1:9', 'e1:7', 'e1:8', 'e1:9']);
      expect(continuity.needsRecovery).toBe(false);
    });

    it('replaces a lost epoch: what was held of the old one first, then the loss, then the new epoch in order', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 2 } } });
      continuity.receive(frame('channel#news', 4, 'e1'));
      continuity.receive(frame('channel#news', 2, 'e2'));
      const request = continuity.takeRecoveryRequest();

      const replayed = [frame('channel#news', 1, 'e2'), frame('channel#news', 2, 'e2')].flatMap((f) => continuity.receive(f));
      const answered = continuity.applyRecovered(request, {
        count: 2,
        complete: true,
        streams: { 'channel#news': { epoch: 'e2', offset: 2, lost: true } },
      });

      expect(request).toEqual({ 'channel#news': { epoch: 'e1', offset: 2 } });
      expect(replayed).toEqual([]);
      expect(shown(answered.emissions)).toEqual(['e1:4', 'lost e1:2..e2:2', 'e2:1', 'e2:2']);
      expect(continuity.position('channel#news')).toEqual({ epoch: 'e2', offset: 2 });
    });

    it('never moves back within an epoch', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 8 } } });
      continuity.check('channel#news');
      const request = continuity.takeRecoveryRequest();

      continuity.applyRecovered(request, { count: 0, complete: true, streams: { 'channel#news': { epoch: 'e1', offset: 5 } } });

      expect(continuity.position('channel#news')).toEqual({ epoch: 'e1', offset: 8 });
      expect(shown(continuity.receive(frame('channel#news', 6)))).toEqual([]);
    });

    it('asks again while a head is ahead of a page (complete: false), and after retryAfterMs', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#a': { epoch: 'e1', offset: 0 }, 'channel#b': { epoch: 'e1', offset: 0 } } });
      continuity.observeHeads({ 'channel#a': { epoch: 'e1', offset: 300 }, 'channel#b': { epoch: 'e1', offset: 2 } });
      const request = continuity.takeRecoveryRequest();

      const first = continuity.applyRecovered(request, {
        count: 100,
        complete: false,
        streams: { 'channel#a': { epoch: 'e1', offset: 98 }, 'channel#b': { epoch: 'e1', offset: 1, retryAfterMs: 250 } },
      });

      expect(first.retryAfterMs).toBe(250);
      expect(continuity.takeRecoveryRequest()).toEqual({ 'channel#a': { epoch: 'e1', offset: 98 }, 'channel#b': { epoch: 'e1', offset: 1 } });
    });

    it('asks again after complete: false for a stream whose head it does not know', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#a': { epoch: 'e1', offset: 3 } } });
      continuity.receive(frame('channel#a', 9));
      const request = continuity.takeRecoveryRequest();

      continuity.applyRecovered(request, { count: 100, complete: false, streams: { 'channel#a': { epoch: 'e1', offset: 5 } } });

      expect(continuity.takeRecoveryRequest()).toEqual({ 'channel#a': { epoch: 'e1', offset: 5 } });
    });

    it('does not ask again for a stream the answer left out (the connection does not hold it)', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#gone': { epoch: 'e1', offset: 3 } } });
      continuity.check('channel#gone');
      const request = continuity.takeRecoveryRequest();

      continuity.applyRecovered(request, { count: 0, complete: true, streams: {} });

      expect(continuity.needsRecovery).toBe(false);
    });

    it('asks again for the streams of a recover that got no answer', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#a': { epoch: 'e1', offset: 3 } } });
      continuity.check('channel#a');
      const request = continuity.takeRecoveryRequest();

      continuity.recoveryFailed(request);

      expect(continuity.wanted).toEqual(['channel#a']);
    });

    it('names at most 102 streams per recover', () => {
      const positions = Object.fromEntries(Array.from({ length: 150 }, (_, index) => [`channel#c${index}`, { epoch: 'e1', offset: 1 }]));
      const continuity = new Continuity<Frame>({ positions });
      for (const stream of Object.keys(positions)) continuity.check(stream);

      expect(Object.keys(continuity.takeRecoveryRequest())).toHaveLength(102);
      expect(Object.keys(continuity.takeRecoveryRequest())).toHaveLength(48);
    });
  });

  describe('positions', () => {
    it('reads only valid positions of valid stream names', () => {
      expect(
        readPositions({
          'user#alice': { epoch: 'e1', offset: 3 },
          'channel#news': { epoch: 'e1', offset: -1 },
          'channel#Bad Name': { epoch: 'e1', offset: 1 },
          broadcast: { epoch: 7, offset: 1 },
          'channel#ok': { epoch: 'x'.repeat(33), offset: 1 },
        }),
      ).toEqual({ 'user#alice': { epoch: 'e1', offset: 3 } });
      expect(readPositions('nope')).toEqual({});
      expect(readPositions(null)).toEqual({});
    });

    it('counts every move in version, and forgets a stream with what it held', () => {
      const continuity = new Continuity<Frame>({ positions: { 'channel#news': { epoch: 'e1', offset: 1 } } });
      const before = continuity.version;
      continuity.receive(frame('channel#news', 3));
      expect(continuity.version).toBe(before);

      continuity.receive(frame('channel#news', 2));
      continuity.forget('channel#news');

      expect(continuity.version).toBeGreaterThan(before);
      expect(continuity.positions()).toEqual({});
      expect(continuity.needsRecovery).toBe(false);
    });

    it('keeps at most maxStreams positions, forgetting the one that moved least recently', () => {
      const continuity = new Continuity<Frame>({ maxStreams: 2 });
      continuity.receive(frame('channel#a', 1));
      continuity.receive(frame('channel#b', 1));
      continuity.receive(frame('channel#a', 2));

      continuity.receive(frame('channel#c', 1));

      expect(Object.keys(continuity.positions()).sort()).toEqual(['channel#a', 'channel#c']);
    });
  });

  /**
   * A model server: each stream has offsets 1..head, some of them tombstones (taken, never
   * filled: no live post, passed over by recovery). Live posts arrive in any order, any
   * number of times (none included); recover replays a page after the asked position and
   * answers where it stopped. Whatever the interleaving, once heads and recovery have had
   * their say every filled offset is shown exactly once, in offset order per stream.
   */
  describe('property: shown once, in order, whatever the interleaving', () => {
    const streams = ['user#alice', 'channel#news'] as const;
    const head = 12;
    const epoch = 'e1';

    type Action =
      | { kind: 'live'; stream: 0 | 1; offset: number }
      | { kind: 'startRecover'; page: number }
      | { kind: 'replayOne' }
      | { kind: 'answer' }
      | { kind: 'heartbeat' };

    const action: fc.Arbitrary<Action> = fc.oneof(
      {
        weight: 6,
        arbitrary: fc.record({
          kind: fc.constant('live' as const),
          stream: fc.constantFrom(0 as const, 1 as const),
          offset: fc.integer({ min: 1, max: head }),
        }),
      },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant('startRecover' as const), page: fc.integer({ min: 1, max: 5 }) }) },
      { weight: 2, arbitrary: fc.constant({ kind: 'replayOne' as const }) },
      { weight: 2, arbitrary: fc.constant({ kind: 'answer' as const }) },
      { weight: 1, arbitrary: fc.constant({ kind: 'heartbeat' as const }) },
    );

    it('holds for live frames, duplicates, replays and tombstones of two streams', () => {
      fc.assert(
        fc.property(
          fc.array(action, { maxLength: 80 }),
          fc.uniqueArray(fc.integer({ min: 1, max: head }), { maxLength: 3 }),
          fc.boolean(),
          (actions, tombstoneOffsets, startKnown) => {
            const tombstones = new Set(tombstoneOffsets);
            const continuity = new Continuity<Frame>(
              startKnown ? { positions: { 'user#alice': { epoch, offset: 0 }, 'channel#news': { epoch, offset: 0 } } } : {},
            );
            const out: Emission<Frame>[] = [];
            let pending: { asked: Record<string, StreamPosition>; replays: Frame[]; answer: RecoveredPayload } | undefined;

            const heads = () => Object.fromEntries(streams.map((stream) => [stream, { epoch, offset: head }]));
            const start = (page: number) => {
              if (pending || !continuity.needsRecovery) return;
              const asked = continuity.takeRecoveryRequest();
              const replays: Frame[] = [];
              const answered: NonNullable<RecoveredPayload['streams']> = {};
              let complete = true;
              for (const [stream, from] of Object.entries(asked)) {
                const to = Math.min(head, from.offset + page);
                for (let offset = from.offset + 1; offset <= to; offset += 1) if (!tombstones.has(offset)) replays.push(frame(stream, offset));
                answered[stream] = { epoch, offset: to };
                if (to < head) complete = false;
              }
              pending = { asked, replays, answer: { count: replays.length, complete, streams: answered } };
            };
            const answer = () => {
              if (!pending) return;
              for (const replay of pending.replays.splice(0)) out.push(...continuity.receive(replay));
              out.push(...continuity.applyRecovered(pending.asked, pending.answer).emissions);
              pending = undefined;
            };

            // A stream must be known before a head can show it behind: the first live frame or the start positions do that.
            // One that a head told first starts at the head; a live frame at or below it (in flight when the head was
            // read) is still shown, once, when it arrives.
            const startedBy = new Map<string, 'frame' | 'head'>();
            const lateBelowHead = new Map<string, number[]>();
            for (const step of actions) {
              if (step.kind === 'live') {
                const stream = streams[step.stream]!;
                if (!tombstones.has(step.offset)) {
                  if (!startedBy.has(stream)) startedBy.set(stream, 'frame');
                  const late = lateBelowHead.get(stream) ?? [];
                  if (startedBy.get(stream) === 'head' && !late.includes(step.offset)) lateBelowHead.set(stream, [...late, step.offset]);
                  out.push(...continuity.receive(frame(stream, step.offset)));
                }
              } else if (step.kind === 'startRecover') start(step.page);
              else if (step.kind === 'replayOne') {
                const replay = pending?.replays.shift();
                if (replay) out.push(...continuity.receive(replay));
              } else if (step.kind === 'answer') answer();
              else {
                for (const stream of streams) if (!startedBy.has(stream)) startedBy.set(stream, 'head');
                continuity.observeHeads(heads());
              }
            }
            // Then the heads of a heartbeat, and recovery until nothing is missing.
            answer();
            continuity.observeHeads(heads());
            for (let round = 0; round < 50 && continuity.needsRecovery; round += 1) {
              start(5);
              answer();
            }

            for (const stream of streams) {
              const offsets = out.flatMap((emission) => (emission.type === 'notification' && emission.frame.stream === stream ? [emission.frame.offset!] : []));
              if (!startKnown && startedBy.get(stream) === 'head') {
                expect(offsets).toEqual(lateBelowHead.get(stream) ?? []);
                continue;
              }
              const first = offsets[0];
              // Without a start position, a stream begins at its first frame.
              const from = startKnown ? 1 : (first ?? head + 1);
              const expected = Array.from({ length: head - from + 1 }, (_, index) => from + index).filter((offset) => !tombstones.has(offset));
              expect(offsets).toEqual(expected);
            }
            expect(out.filter((emission) => emission.type === 'continuityLost')).toEqual([]);
            expect(continuity.needsRecovery).toBe(false);
          },
        ),
        { numRuns: 400 },
      );
    });
  });
});
