import type { DeadLetter } from '../../domain/fanout/dead-letters.js';
import type { DeadLetterSink } from '../../domain/ports.js';

/** {@link DeadLetterSink} that keeps what it is sent, oldest first (tests, benchmarks). */
export class MemoryDeadLetterSink implements DeadLetterSink {
  readonly letters: DeadLetter[] = [];

  async send(letters: readonly DeadLetter[]): Promise<void> {
    this.letters.push(...letters.map((letter) => structuredClone(letter)));
  }
}
