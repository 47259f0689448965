import type { Context } from 'aws-lambda';
import { createServices } from '../../lambdas/composition.js';
import { composeFanout } from '../../lambdas/composition-fanout.js';
import type { DeadLetter } from '../../lambdas/domain/fanout/dead-letters.js';
import type { ShardKey } from '../../lambdas/domain/fanout/shard-plan.js';
import type { ShardRunOutcome } from '../../lambdas/domain/fanout/shard-worker.js';
import type { DeadLetterSink, DeliveryProgressStore } from '../../lambdas/domain/ports.js';
import { budgetOf } from '../../lambdas/handlers/fanout.js';
import { parseShardRequest } from '../../lambdas/handlers/fanout-worker.js';
import type { LambdaHandler } from '../../local/lambda/functions.js';
import { VICTIM_STAGE_PREFIX } from './faulty-management-api.js';
import type { FaultyManagementApiThread } from './management-api-host.js';

/** What every call of a dead invocation meets from its caller's side: the invocation failed. */
export class SimulatedCrash extends Error {
  constructor() {
    super('the worker crashed (simulated: out of memory mid-shard)');
    this.name = 'SimulatedCrash';
  }
}

/** One write to a shard's progress that sets or ends a lease, as the worker made it. */
export interface LeaseEvent {
  readonly shard: string;
  readonly stage: string;
  readonly owner: string;
  readonly kind: 'acquire' | 'claim' | 'complete' | 'abandon' | 'extend' | 'release';
  readonly startedAtMs: number;
  readonly endedAtMs: number;
  /** The lease's end this write stores (0 for a release); undefined when it leaves the lease as it is. */
  readonly leaseUntilMs: number | undefined;
  /** The store took it (acquire returned the shard; claim, complete, abandon returned true). */
  readonly ok: boolean;
}

/** One worker invocation: who it was, what it ran, how it ended. */
export interface InvocationRecord {
  /** The Management API stage it posts under: `w{n}`, or `v{n}` for the crash victim. */
  readonly stage: string;
  readonly shard: string;
  readonly startedAtMs: number;
  endedAtMs?: number;
  outcome?: ShardRunOutcome;
  error?: string;
}

/** Dead letters a worker sent (or tried to): when, and for which connections. */
export interface DeadLetterSend {
  readonly stage: string;
  readonly shard: string;
  readonly atMs: number;
  readonly connectionIds: string[];
}

const NEVER = new Promise<never>(() => {});

/**
 * The fan-out worker function as Lambda runs it, one sandbox per invocation: every
 * invocation builds its own services from the composition (its own Management API
 * sender, keep-alive agent and SDK clients, as a fresh sandbox has), so a slow
 * invocation cannot starve another's sockets, and its posts go to its own Management API
 * stage (`/w7/@connections/...`), which is how the ground truth knows who posted. The
 * composition's own shard worker runs; the harness only observes its progress writes
 * (the lease as stored) and dead letters.
 *
 * One invocation, the first for shard 1 of a job, is the crash victim: it dies when the
 * Management API has received its `crashAfterPosts`-th post, mid-chunk. From that moment
 * it is a dead process: its calls in flight never return to it, its new calls never
 * reach their service (the API drops its posts), and Lambda sees the invocation fail.
 */
export class WorkerInvocations {
  readonly invocations: InvocationRecord[] = [];
  readonly leaseEvents: LeaseEvent[] = [];
  readonly deadLetterSends: DeadLetterSend[] = [];
  #armed: boolean;
  #count = 0;

  constructor(
    private readonly managementApi: FaultyManagementApiThread,
    crash: boolean,
  ) {
    this.#armed = crash;
  }

  readonly handler: LambdaHandler = async (event: unknown, context: Context) => {
    const request = parseShardRequest(event);
    const victim = this.#armed && request.index === 1;
    if (victim) this.#armed = false;
    this.#count += 1;
    const stage = `${victim ? VICTIM_STAGE_PREFIX : 'w'}${this.#count}`;
    const shard = shardName(request);
    const record: InvocationRecord = { stage, shard, startedAtMs: Date.now() };
    this.invocations.push(record);
    const services = createServices({ ...process.env, MANAGEMENT_ENDPOINT: `${this.managementApi.url}/${stage}` });
    const dead = () => victim && this.managementApi.crashed();
    const kill = <T extends object>(target: T): T => (victim ? killable(target, dead) : target);
    override(services, 'deliveryProgress', kill(this.#observeLease(services.deliveryProgress, stage)));
    override(services, 'connections', kill(services.connections));
    const parts = composeFanout(services);
    const letters = parts.deadLetters;
    if (letters) override(parts, 'deadLetters', kill(this.#observeLetters(letters, stage, shard)));
    try {
      const run = parts.shardWorker.run(request, budgetOf(context));
      const outcome = victim
        ? await Promise.race([
            run,
            this.managementApi.crash.then(() => {
              throw new SimulatedCrash();
            }),
          ])
        : await run;
      record.outcome = outcome;
      return outcome;
    } catch (error) {
      record.error = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      throw error;
    } finally {
      record.endedAtMs = Date.now();
    }
  };

  #observeLease(store: DeliveryProgressStore, stage: string): DeliveryProgressStore {
    const events = this.leaseEvents;
    const observe =
      <A extends unknown[], R>(kind: LeaseEvent['kind'], call: (...args: A) => Promise<R>, leaseOf: (args: A) => number | undefined) =>
      async (...args: A): Promise<R> => {
        const startedAtMs = Date.now();
        const key = args[0] as ShardKey;
        const owner = args[1] as string;
        const result = await call(...args);
        events.push({
          shard: shardName(key),
          stage,
          owner,
          kind,
          startedAtMs,
          endedAtMs: Date.now(),
          leaseUntilMs: leaseOf(args),
          ok: kind === 'release' || Boolean(result),
        });
        return result;
      };
    return new Proxy(store, {
      get(object, property) {
        const value = Reflect.get(object, property, object) as unknown;
        if (typeof value !== 'function') return value;
        const call = (value as (...args: unknown[]) => Promise<unknown>).bind(object);
        switch (property) {
          case 'acquire':
          case 'acquireAndClaim':
            return observe('acquire', call, (args) => args[2] as number);
          case 'claim':
            return observe('claim', call, (args) => args[4] as number);
          case 'complete':
            return observe('complete', call, (args) => (args[6] as { leaseUntilMs?: number } | undefined)?.leaseUntilMs);
          case 'abandon':
            return observe('abandon', call, () => undefined);
          case 'extend':
            return observe('extend', call, (args) => args[2] as number);
          case 'release':
            return observe('release', call, () => 0);
          default:
            return call;
        }
      },
    });
  }

  #observeLetters(sink: DeadLetterSink, stage: string, shard: string): DeadLetterSink {
    const sends = this.deadLetterSends;
    return {
      send: (letters: readonly DeadLetter[]) => {
        const connectionIds = letters.flatMap((letter) => (letter.kind === 'post' ? [letter.connectionId] : []));
        sends.push({ stage, shard, atMs: Date.now(), connectionIds });
        return sink.send(letters);
      },
    };
  }
}

export function shardName(key: ShardKey): string {
  return `${key.messageId}|${key.planId}|${key.index}`;
}

/** A port of a process that may die: once `dead()`, no call reaches it and none in flight returns. */
function killable<T extends object>(target: T, dead: () => boolean): T {
  return new Proxy(target, {
    get(object, property) {
      const value = Reflect.get(object, property, object) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (dead()) return NEVER;
        return Promise.resolve((value as (...a: unknown[]) => unknown).apply(object, args)).then(
          (result) => (dead() ? NEVER : result),
          (error: unknown) => (dead() ? NEVER : Promise.reject(error)),
        );
      };
    },
  });
}

/** Replaces one of the lazily built ports (of the services or the fan-out's parts) before the shard worker is built from them. */
function override<T extends object, K extends keyof T>(target: T, name: K, value: T[K]): void {
  Object.defineProperty(target, name, { value, configurable: true, enumerable: true });
}
