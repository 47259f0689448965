import { setTimeout as sleep } from 'node:timers/promises';

/**
 * A store whose every request takes `latencyMs`, however many are in flight: DynamoDB as
 * the fan-out sees it in AWS (independent requests, single-digit milliseconds each), put
 * in front of an in-memory adapter. B5 uses it to time the fan-out's own scheduling;
 * DynamoDB Local would add its serial execution (docs/benchmarks.md, B5).
 */

/** Requests made through the wrapped stores, counted as DynamoDB would bill them (one per call, one per page). */
export class StoreRequestCounter {
  #requests = 0;

  get requests(): number {
    return this.#requests;
  }

  add(): void {
    this.#requests += 1;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return typeof (value as { then?: unknown } | null)?.then === 'function';
}

function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof (value as { [Symbol.asyncIterator]?: unknown } | null)?.[Symbol.asyncIterator] === 'function';
}

/** Settles as `answer` does, but not before `latencyMs` after the call. */
async function heldFor<T>(answer: PromiseLike<T>, latencyMs: number): Promise<T> {
  const [settled] = await Promise.allSettled([answer, sleep(latencyMs)]);
  if (settled.status === 'rejected') throw settled.reason;
  return settled.value;
}

/** Each page (one Query in DynamoDB) answered `latencyMs` after it was asked for. */
function pagedWithLatency<T>(pages: AsyncIterable<T>, latencyMs: number, counter: StoreRequestCounter): AsyncIterable<T> {
  return {
    [Symbol.asyncIterator]() {
      const iterator = pages[Symbol.asyncIterator]();
      return {
        next: async () => {
          const page = await iterator.next();
          // The end of the pages costs no request: DynamoDB's last page says there is no more.
          if (page.done) return page;
          counter.add();
          await sleep(latencyMs);
          return page;
        },
        ...(iterator.return ? { return: (value?: unknown) => iterator.return!(value) } : {}),
      };
    },
  };
}

/**
 * `store` with each method's answer held until `latencyMs` after the call: a promise
 * settles no sooner, an async iterable's pages each come no sooner. The in-memory call
 * itself runs at once (its effect lands as the request reaches the store, as a
 * DynamoDB write's does before its answer travels back). Synchronous answers pass as they are.
 */
export function withStoreLatency<T extends object>(store: T, latencyMs: number, counter: StoreRequestCounter): T {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const answer: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (isThenable(answer)) {
          counter.add();
          return heldFor(answer, latencyMs);
        }
        if (isAsyncIterable(answer)) return pagedWithLatency(answer, latencyMs, counter);
        return answer;
      };
    },
  });
}
