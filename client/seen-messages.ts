/**
 * The messageIds delivered most recently, to drop what a replay or an overlapping
 * connection delivers again. Bounded: the oldest are forgotten first.
 */
export class SeenMessages {
  readonly #ids = new Set<string>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`capacity ${capacity}: a positive integer`);
  }

  /** Records `messageId`; false when it was already there. */
  add(messageId: string): boolean {
    if (this.#ids.has(messageId)) return false;
    this.#ids.add(messageId);
    // A Set iterates in insertion order: the first entry is the oldest.
    if (this.#ids.size > this.capacity) this.#ids.delete(this.#ids.values().next().value!);
    return true;
  }

  has(messageId: string): boolean {
    return this.#ids.has(messageId);
  }

  get size(): number {
    return this.#ids.size;
  }
}
