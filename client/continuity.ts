import { STREAM_NAME } from '../protocol/frames.js';
import type { RecoveredPayload, StreamPosition } from '../protocol/types.js';
import { SeenMessages } from './seen-messages.js';

/**
 * Continuity (docs/protocol.md section 11): every notification shown once, and in offset
 * order within its stream, whatever was lost, late or delivered twice. This module holds
 * the decisions and no socket: the client feeds it frames, heads and `recovered` answers,
 * shows what it returns, and sends the `recover` it asks for.
 */

/** What continuity reads from a notification frame. */
export interface ContinuityFrame {
  readonly messageId: string;
  readonly stream?: string;
  readonly offset?: number;
  readonly epoch?: string;
}

/** Some notifications of `stream` after `from` and up to `to` are no longer kept: they will never be shown. */
export interface ContinuityLost {
  readonly stream: string;
  /** The position recovery asked from. */
  readonly from: StreamPosition;
  /** The position the server answered: what follows it is shown as usual. */
  readonly to: StreamPosition;
}

/** One thing to tell the application, in this order. */
export type Emission<F> = { readonly type: 'notification'; readonly frame: F } | { readonly type: 'continuityLost'; readonly lost: ContinuityLost };

export interface ContinuityOptions {
  /** Where each stream starts (resume after a reload); invalid entries are left out. @default none */
  readonly positions?: Readonly<Record<string, StreamPosition>>;
  /** Live frames held ahead of a gap, per stream; above it the newest held is dropped (recovery brings it again). @default 1000 */
  readonly maxHeldPerStream?: number;
  /** Offsets a `recovered` answer passed over that are remembered, per stream, so a late frame for one is still shown. @default 1000 */
  readonly maxSkippedPerStream?: number;
  /** Streams whose position is kept; the one that moved least recently is forgotten first. @default 1000 */
  readonly maxStreams?: number;
  /** messageIds remembered to drop duplicates of frames that carry no position. @default 2000 */
  readonly unpositionedCapacity?: number;
  /** messageIds of positioned notifications remembered as a backstop against one stored at two offsets. @default 5000 */
  readonly shownCapacity?: number;
}

/** Bounds one recovery by positions (100 notifications a round): then an error, and nothing until the next heads. */
export const MAX_RECOVER_ROUNDS = 50;
/** The longest `retryAfterMs` followed; a longer one waits this long. */
export const MAX_RETRY_AFTER_MS = 30_000;

/** Offsets just below a head a stream starts from that are still shown when they arrive live (in flight when the head was read). */
const ADOPTED_HEAD_WINDOW = 32;

/** Most streams one `recover` names (protocol `MAX_RECOVER_STREAMS`). */
export const MAX_RECOVER_STREAMS = 102;

interface StreamState<F> {
  /** Everything up to `offset` of `epoch` was shown, or passed over by recovery (`skipped`). */
  epoch: string;
  offset: number;
  /** Frames ahead of a gap, by {@link heldKey}: shown once the gap is filled. */
  readonly held: Map<string, F & Positioned>;
  /** Offsets at or below `offset` in this epoch that recovery passed over and no frame filled yet. */
  skipped: Set<number>;
  /** The newest head the server told for this stream (welcome, heartbeat). */
  head: StreamPosition | undefined;
}

type Positioned = { readonly stream: string; readonly offset: number; readonly epoch: string };

/**
 * Per-stream positions, gap detection, the hold buffer and the decisions that follow.
 * Deterministic and synchronous: every method returns what to emit now.
 */
export class Continuity<F extends ContinuityFrame> {
  readonly #streams = new Map<string, StreamState<F>>();
  /** Streams that need a `recover`: a gap, a head ahead, an answer that left more. */
  readonly #wanted = new Set<string>();
  readonly #unpositioned: SeenMessages;
  /** messageIds of positioned notifications shown lately ({@link #once}). */
  readonly #shown: SeenMessages;
  readonly #maxHeld: number;
  readonly #maxSkipped: number;
  readonly #maxStreams: number;
  #version = 0;

  constructor(options: ContinuityOptions = {}) {
    this.#maxHeld = positiveInteger('maxHeldPerStream', options.maxHeldPerStream ?? 1000);
    this.#maxSkipped = positiveInteger('maxSkippedPerStream', options.maxSkippedPerStream ?? 1000);
    this.#maxStreams = positiveInteger('maxStreams', options.maxStreams ?? 1000);
    this.#unpositioned = new SeenMessages(options.unpositionedCapacity ?? 2000);
    this.#shown = new SeenMessages(options.shownCapacity ?? 5000);
    for (const [stream, position] of Object.entries(readPositions(options.positions))) this.#create(stream, position);
    this.#version = 0;
  }

  /** Counts every change of a position: a caller that saves them compares it with the last saved. */
  get version(): number {
    return this.#version;
  }

  /** Whether some stream waits for a `recover`. */
  get needsRecovery(): boolean {
    return this.#wanted.size > 0;
  }

  /** The streams waiting for a `recover`. */
  get wanted(): readonly string[] {
    return [...this.#wanted];
  }

  /** Every known position, as a plain object (a copy). */
  positions(): Record<string, StreamPosition> {
    const out: Record<string, StreamPosition> = {};
    for (const [stream, state] of this.#streams) out[stream] = { epoch: state.epoch, offset: state.offset };
    return out;
  }

  position(stream: string): StreamPosition | undefined {
    const state = this.#streams.get(stream);
    return state && { epoch: state.epoch, offset: state.offset };
  }

  /** How many frames of `stream` wait ahead of a gap. */
  heldCount(stream: string): number {
    return this.#streams.get(stream)?.held.size ?? 0;
  }

  /**
   * A notification frame, live or replayed: what to show now (it, and frames it freed
   * from the hold buffer), possibly nothing (a duplicate, or held ahead of a gap).
   */
  receive(frame: F): Emission<F>[] {
    return this.#once(this.#receive(frame));
  }

  /**
   * A backstop behind positions: a notification the service stored at two offsets (a
   * redelivery's leftover read before its removal) is shown once. Its second offset
   * still counts as passed.
   */
  #once(emissions: Emission<F>[]): Emission<F>[] {
    return emissions.filter((emission) => emission.type !== 'notification' || !isPositioned(emission.frame) || this.#shown.add(emission.frame.messageId));
  }

  #receive(frame: F): Emission<F>[] {
    if (!isPositioned(frame)) {
      // Older servers and library sends: no place to check, so once per messageId.
      return this.#unpositioned.add(frame.messageId) ? [{ type: 'notification', frame }] : [];
    }
    const { stream, offset, epoch } = frame;
    let state = this.#streams.get(stream);
    // A stream seen first through a frame: it starts just before it.
    if (!state) state = this.#create(stream, { epoch, offset: offset - 1 });
    if (!isRecoverable(stream)) {
      // A name `recover` refuses: a gap cannot be filled, so show in order of arrival, once.
      if (state.offset > 0 && epoch === state.epoch && offset <= state.offset) return [];
      this.#move(stream, state, epoch, offset);
      return [{ type: 'notification', frame }];
    }
    // Another epoch: the history the position belongs to was lost; the server says what survives.
    if (state.offset > 0 && epoch !== state.epoch) {
      this.#hold(state, frame);
      this.#wanted.add(stream);
      return [];
    }
    if (offset <= state.offset) {
      // Passed over by recovery, and here after all: shown once.
      if (state.skipped.delete(offset)) return [{ type: 'notification', frame }];
      return [];
    }
    if (offset > state.offset + 1) {
      this.#hold(state, frame);
      this.#wanted.add(stream);
      return [];
    }
    this.#move(stream, state, epoch, offset);
    const out: Emission<F>[] = [{ type: 'notification', frame }];
    this.#drain(stream, state, out);
    return out;
  }

  /**
   * The heads of the streams a connection holds (`welcome`, `heartbeat` answers). A
   * stream without a position takes its head (nothing to replay); one behind its head
   * missed something and waits for a `recover`.
   */
  observeHeads(heads: Readonly<Record<string, StreamPosition>>): void {
    for (const [stream, head] of Object.entries(heads)) {
      if (!isPosition(head)) continue;
      const state = this.#streams.get(stream);
      if (!state) {
        const created = this.#create(stream, head);
        // A head is read when the answer is made; a notification stored just before it may
        // still be on its way live (its audience was read before this client took the
        // stream). The last offsets below the head were never shown here: one that arrives
        // live is shown once (as an offset recovery passed over would be).
        for (let offset = Math.max(1, head.offset - ADOPTED_HEAD_WINDOW + 1); offset <= head.offset; offset += 1) created.skipped.add(offset);
        continue;
      }
      if (!isBehind(state, head)) continue;
      state.head = { epoch: head.epoch, offset: head.offset };
      if (isRecoverable(stream)) this.#wanted.add(stream);
    }
  }

  /**
   * Asks a `recover` for `stream` when its position is known: a channel restored after a
   * reconnect, or subscribed after a reload, whose head no welcome told. False when unknown.
   */
  check(stream: string): boolean {
    if (!this.#streams.has(stream) || !isRecoverable(stream)) return false;
    this.#wanted.add(stream);
    return true;
  }

  /** Drops a stream's position and what it held (a channel left: what it missed meanwhile is not the client's). */
  forget(stream: string): void {
    if (this.#streams.delete(stream)) this.#version += 1;
    this.#wanted.delete(stream);
  }

  /**
   * The `streams` of the next `recover`: the positions of at most `limit` waiting streams.
   * They stop waiting until {@link applyRecovered} (or {@link recoveryFailed}) says again.
   */
  takeRecoveryRequest(limit = MAX_RECOVER_STREAMS): Record<string, StreamPosition> {
    const request: Record<string, StreamPosition> = {};
    let count = 0;
    for (const stream of [...this.#wanted]) {
      if (count === limit) break;
      this.#wanted.delete(stream);
      const state = this.#streams.get(stream);
      if (!state) continue;
      request[stream] = askFrom(state);
      count += 1;
    }
    return request;
  }

  /** The `recover` for `asked` got no answer: those streams wait again. */
  recoveryFailed(asked: Readonly<Record<string, StreamPosition>>): void {
    for (const stream of Object.keys(asked)) if (this.#streams.has(stream)) this.#wanted.add(stream);
  }

  /**
   * The `recovered` answer to a `recover` of `asked` (the replayed frames came before it,
   * through {@link receive}). Each stream moves to the answered position (never back within
   * an epoch; another epoch replaces it), offsets passed over are remembered as skipped,
   * held frames are shown, and a stream with a gap left, `retryAfterMs`, or more to come
   * (`complete: false`) waits again. `retryAfterMs`: the longest wait any stream asked for.
   */
  applyRecovered(asked: Readonly<Record<string, StreamPosition>>, answer: RecoveredPayload): { emissions: Emission<F>[]; retryAfterMs: number } {
    const emissions: Emission<F>[] = [];
    let retryAfterMs = 0;
    for (const [stream, from] of Object.entries(asked)) {
      const state = this.#streams.get(stream);
      const to = answer.streams?.[stream];
      // Forgotten meanwhile, or not answered: the connection does not hold that stream.
      if (!state || !to || !isPosition(to)) continue;
      this.#advance(stream, state, from, to, emissions);
      // A head of another epoch than the answer's is older news than the answer.
      const head = state.head?.epoch === to.epoch ? state.head : undefined;
      state.head = head && head.offset > state.offset ? head : undefined;
      const retry = to.retryAfterMs !== undefined;
      if (retry) retryAfterMs = Math.max(retryAfterMs, to.retryAfterMs!);
      // Without a head to compare with, `complete: false` may be about this stream.
      const more = head ? head.offset > state.offset : !answer.complete;
      if (retry || more || state.held.size > 0) this.#wanted.add(stream);
      else this.#wanted.delete(stream);
    }
    return { emissions: this.#once(emissions), retryAfterMs };
  }

  #advance(stream: string, state: StreamState<F>, from: StreamPosition, to: StreamPosition & { lost?: true }, out: Emission<F>[]): void {
    const lost: Emission<F> | undefined = to.lost
      ? { type: 'continuityLost', lost: { stream, from: { ...from }, to: { epoch: to.epoch, offset: to.offset } } }
      : undefined;
    if (state.offset > 0 && to.epoch !== state.epoch) {
      // The position's epoch is gone. What was held of it came live and is shown (the gap
      // before it is part of the loss); the new epoch starts from nothing.
      for (const frame of this.#takeHeld(state, (held) => held.epoch === state.epoch)) out.push({ type: 'notification', frame });
      state.epoch = to.epoch;
      state.offset = 0;
      state.skipped = new Set();
      this.#version += 1;
    }
    if (lost) out.push(lost);
    if (to.offset > state.offset) {
      if (state.offset === 0) state.epoch = to.epoch;
      // Frames up to the answered offset (replayed, or live and held) are shown in order;
      // the offsets between them that no frame filled are passed over.
      let next = state.offset + 1;
      for (const frame of this.#takeHeld(state, (held) => held.epoch === to.epoch && held.offset <= to.offset)) {
        this.#skip(state, next, frame.offset - 1);
        out.push({ type: 'notification', frame });
        next = frame.offset + 1;
      }
      this.#skip(state, next, to.offset);
      this.#move(stream, state, to.epoch, to.offset);
    }
    this.#drain(stream, state, out);
  }

  /** Shows the held frames that follow the position, in order, as far as they are contiguous. */
  #drain(stream: string, state: StreamState<F>, out: Emission<F>[]): void {
    for (;;) {
      const key = heldKey(state.epoch, state.offset + 1);
      const next = state.held.get(key);
      if (!next) return;
      state.held.delete(key);
      this.#move(stream, state, state.epoch, state.offset + 1);
      out.push({ type: 'notification', frame: next });
    }
  }

  #hold(state: StreamState<F>, frame: F & Positioned): void {
    const key = heldKey(frame.epoch, frame.offset);
    if (state.held.has(key)) return;
    if (state.held.size >= this.#maxHeld) {
      // Full: the newest is dropped (this one, or the newest held); recovery brings it again.
      let newest: (F & Positioned) | undefined;
      for (const held of state.held.values()) if (!newest || held.offset > newest.offset) newest = held;
      if (!newest || newest.offset <= frame.offset) return;
      state.held.delete(heldKey(newest.epoch, newest.offset));
    }
    state.held.set(key, frame);
  }

  /** Removes and returns the held frames that match, in offset order. */
  #takeHeld(state: StreamState<F>, match: (frame: F & Positioned) => boolean): (F & Positioned)[] {
    const taken = [...state.held.values()].filter(match).sort((a, b) => a.offset - b.offset);
    for (const frame of taken) state.held.delete(heldKey(frame.epoch, frame.offset));
    return taken;
  }

  /** Remembers `from..to` as passed over; a long run keeps only its last offsets (the likeliest to still come). */
  #skip(state: StreamState<F>, from: number, to: number): void {
    for (let offset = Math.max(from, to - this.#maxSkipped + 1); offset <= to; offset += 1) {
      state.skipped.add(offset);
      if (state.skipped.size > this.#maxSkipped) state.skipped.delete(state.skipped.values().next().value!);
    }
  }

  #create(stream: string, position: StreamPosition): StreamState<F> {
    const state: StreamState<F> = { epoch: position.epoch, offset: position.offset, held: new Map(), skipped: new Set(), head: undefined };
    this.#streams.set(stream, state);
    this.#version += 1;
    this.#bound();
    return state;
  }

  #move(stream: string, state: StreamState<F>, epoch: string, offset: number): void {
    state.epoch = epoch;
    state.offset = offset;
    this.#version += 1;
    // A Map iterates in insertion order: re-inserting keeps the least recently moved first.
    this.#streams.delete(stream);
    this.#streams.set(stream, state);
  }

  #bound(): void {
    while (this.#streams.size > this.#maxStreams) {
      const oldest = this.#streams.keys().next().value!;
      this.#streams.delete(oldest);
      this.#wanted.delete(oldest);
    }
  }
}

/** Whether a frame carries its place: stream, offset and epoch. */
export function isPositioned<F extends ContinuityFrame>(frame: F): frame is F & Positioned {
  return typeof frame.stream === 'string' && typeof frame.epoch === 'string' && Number.isSafeInteger(frame.offset) && frame.offset! >= 1;
}

/**
 * The valid positions of `value` (stored or given by the application): a record of stream
 * name to `{ epoch, offset }`. Anything else is left out.
 */
export function readPositions(value: unknown): Record<string, StreamPosition> {
  const out: Record<string, StreamPosition> = {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return out;
  for (const [stream, position] of Object.entries(value)) {
    if (STREAM_NAME.test(stream) && isPosition(position) && position.epoch.length <= 32) out[stream] = { epoch: position.epoch, offset: position.offset };
  }
  return out;
}

function isPosition(value: unknown): value is StreamPosition {
  const candidate = value as Partial<StreamPosition> | null;
  return (
    typeof candidate === 'object' &&
    candidate !== null &&
    typeof candidate.epoch === 'string' &&
    Number.isSafeInteger(candidate.offset) &&
    candidate.offset! >= 0
  );
}

/** Whether `head` shows that something after the position was missed. */
function isBehind(state: { epoch: string; offset: number }, head: StreamPosition): boolean {
  // Offset 0 is nothing seen, in any epoch.
  if (state.offset === 0) return head.offset > 0;
  if (head.epoch === state.epoch) return head.offset > state.offset;
  // Another epoch: the server answers what is lost and where to go on from.
  return true;
}

/** The position a `recover` asks from; at offset 0 with the epoch best known, since any epoch means nothing seen. */
function askFrom<F>(state: StreamState<F>): StreamPosition {
  if (state.offset > 0 || state.epoch !== '') return { epoch: state.epoch, offset: state.offset };
  const epoch = state.head?.epoch ?? state.held.values().next().value?.epoch ?? '';
  return { epoch, offset: 0 };
}

function isRecoverable(stream: string): boolean {
  return STREAM_NAME.test(stream);
}

function heldKey(epoch: string, offset: number): string {
  return `${offset} ${epoch}`;
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} ${value}: a positive integer`);
  return value;
}
