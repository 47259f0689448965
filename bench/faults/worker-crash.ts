import type { Context } from 'aws-lambda';
import { getServices } from '../../lambdas/composition.js';
import { createShardWorker } from '../../lambdas/domain/fanout/fanout-service.js';
import { budgetOf } from '../../lambdas/handlers/fanout.js';
import { parseShardRequest } from '../../lambdas/handlers/fanout-worker.js';
import type { LambdaHandler } from '../../local/lambda/functions.js';

/** When the one crash happens. */
export interface CrashPlan {
  /** True until the crash has been set up. */
  armed: boolean;
  /** Posts the victim invocation sends before it dies. */
  readonly afterPosts: number;
  /** True once the victim has died. */
  crashed: boolean;
}

/** What every call of a dead invocation meets: it never reaches any service again. */
export class SimulatedCrash extends Error {
  constructor() {
    super('the worker crashed (simulated: out of memory mid-shard)');
    this.name = 'SimulatedCrash';
  }
}

/**
 * The worker function, with one crash: the first invocation for shard 1 of a job dies
 * after sending `afterPosts` posts, mid-chunk. From that
 * moment every call it makes (posts, progress writes, dead letters, removals) fails
 * before reaching its service, as if the process were gone; the calls already in flight
 * complete, as requests that left a dying process do. Lambda then sees a failed
 * asynchronous invocation and retries it; the retry resumes the shard.
 */
export function crashingWorkerHandler(plan: CrashPlan, real: LambdaHandler): LambdaHandler {
  return async (event: unknown, context: Context) => {
    const request = parseShardRequest(event);
    if (!plan.armed || request.index !== 1) return real(event, context);
    plan.armed = false;
    const services = getServices();
    let posts = 0;
    const dead = () => plan.crashed;
    const killable = <T extends object>(target: T): T =>
      new Proxy(target, {
        get(object, property) {
          const value = Reflect.get(object, property, object) as unknown;
          if (typeof value !== 'function') return value;
          return (...args: unknown[]) => {
            if (dead()) return Promise.reject(new SimulatedCrash());
            return (value as (...a: unknown[]) => unknown).apply(object, args);
          };
        },
      });
    const sender = services.sender;
    const countingSender = {
      async post(connectionId: string, data: string) {
        // The process dies once it has sent `afterPosts` posts: those in flight still
        // reach the Management API, the rest of the chunk never leaves.
        if (dead() || posts >= plan.afterPosts) {
          plan.crashed = true;
          throw new SimulatedCrash();
        }
        posts += 1;
        await sender.post(connectionId, data);
      },
      close: (connectionId: string) => sender.close(connectionId),
    };
    const { worker } = createShardWorker({
      progress: killable(services.deliveryProgress),
      ...(services.deadLetters ? { deadLetters: killable(services.deadLetters) } : {}),
      sender: countingSender,
      connections: killable(services.connections),
      clock: services.clock,
      log: services.logger,
      concurrency: services.config.kafka.fanout_concurrency,
      retry: { attempts: services.config.delivery.post_attempts, baseDelayMs: 50, maxDelayMs: 2000 },
    });
    return worker!.run(request, budgetOf(context));
  };
}
