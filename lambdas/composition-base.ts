import { Logger } from '@aws-lambda-powertools/logger';
import { readLambdaEnvironment, type LambdaEnvironment } from './config/environment.js';
import { serviceConfigFromJson } from './config/load.js';
import type { ServiceConfig } from './config/schema.js';
import type { Clock } from './domain/ports.js';

/**
 * What every function needs and no AWS SDK client: the logger, the clock, the validated
 * environment and configuration. The Authorizer is built from this alone, so it loads
 * none of the clients of `composition.ts`.
 */

export const systemClock: Clock = { now: () => new Date() };

/** One logger per process; Powertools reads POWERTOOLS_SERVICE_NAME / POWERTOOLS_LOG_LEVEL. */
export const logger = new Logger({ serviceName: process.env.POWERTOOLS_SERVICE_NAME ?? 'notifications' });

export interface Settings {
  readonly env: LambdaEnvironment;
  readonly config: ServiceConfig;
}

/** Reads and validates the environment and `SERVICE_CONFIG`; throws ConfigError naming each bad key. */
export function readSettings(source: NodeJS.ProcessEnv = process.env): Settings {
  const env = readLambdaEnvironment(source);
  return { env, config: serviceConfigFromJson(env.SERVICE_CONFIG) };
}

/** A value built on first use, then kept. */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  let built = false;
  return () => {
    if (!built) {
      value = build();
      built = true;
    }
    return value as T;
  };
}

const ENV_KEYS = [
  'SERVICE_CONFIG',
  'CONNECTIONS_TABLE',
  'SUBSCRIPTIONS_TABLE',
  'USERS_TABLE',
  'NOTIFICATIONS_TABLE',
  'DELIVERIES_TABLE',
  'FANOUT_WORKER_FUNCTION_NAME',
  'DEAD_LETTER_QUEUE_URL',
  'MANAGEMENT_ENDPOINT',
  'WELCOME_FUNCTION_NAME',
  'DYNAMODB_ENDPOINT',
  'LAMBDA_ENDPOINT',
  'JWT_SECRET',
  'JWT_SECRET_ARN',
] as const;

/**
 * What this process's composition depends on in its environment. In Lambda it never
 * changes, so everything is built once per cold start; a process whose environment
 * changes (a test that starts a second local runtime) builds again for the new one.
 */
export function environmentKey(source: NodeJS.ProcessEnv = process.env): string {
  return ENV_KEYS.map((name) => source[name] ?? '').join('\u0000');
}

/**
 * A value built from this process's environment once per container: on first use, and
 * again only when the environment changes. Lambda never changes a container's
 * environment, so there it is built once per cold start; the environment is also how
 * the local runtime and the tests point a function at DynamoDB Local and their stubs
 * (a test that starts a second local runtime gets parts built for the new one).
 */
export function perEnvironment<T>(build: (source: NodeJS.ProcessEnv) => T): () => T {
  let cached: { key: string; value: T } | undefined;
  return () => {
    const key = environmentKey(process.env);
    // A copy: parts read their variables on first use, which must see this environment.
    if (cached?.key !== key) cached = { key, value: build({ ...process.env }) };
    return cached.value;
  };
}

/** `build(from)`, built once per `from` object (parts derived from one set of services). */
export function derivedOnce<K extends object, T>(build: (from: K) => T): (from: K) => T {
  const built = new WeakMap<K, T>();
  return (from) => {
    if (!built.has(from)) built.set(from, build(from));
    return built.get(from) as T;
  };
}
