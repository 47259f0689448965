import { TransientError } from '../../lambdas/domain/errors.js';
import type { Deduplicator, OnceOutcome } from '../../lambdas/domain/ports.js';

/**
 * {@link Deduplicator} in memory, with the semantics of the Powertools one: a key is in
 * progress while its work runs, complete after, and released when the work throws.
 */
export class MemoryDeduplicator implements Deduplicator {
  readonly #keys = new Map<string, { state: 'in-progress' } | { state: 'complete'; result: unknown }>();

  async once<T>(key: string, work: () => Promise<T>): Promise<OnceOutcome<T>> {
    const existing = this.#keys.get(key);
    if (existing?.state === 'complete') return { duplicate: true };
    if (existing?.state === 'in-progress') throw new TransientError(`another run for ${key} is still in progress`);
    this.#keys.set(key, { state: 'in-progress' });
    try {
      const result = await work();
      this.#keys.set(key, { state: 'complete', result: JSON.parse(JSON.stringify(result ?? null)) });
      return { duplicate: false, result };
    } catch (error) {
      this.#keys.delete(key);
      throw error;
    }
  }

  /** Keys whose work completed. */
  completedKeys(): string[] {
    return [...this.#keys].filter(([, entry]) => entry.state === 'complete').map(([key]) => key);
  }
}
