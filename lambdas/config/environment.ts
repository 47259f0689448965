import * as z from '../../protocol/zod-mini.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import { ConfigError } from './errors.js';

/**
 * The environment every Lambda of the service reads at cold start, validated once.
 * The CDK construct sets it in AWS; the local runtime sets it in its own process.
 */
export const lambdaEnvironmentSchema = z.object({
  /** JSON of the `[notification_service]` section of Config.toml. */
  SERVICE_CONFIG: z.optional(z.string()),
  CONNECTIONS_TABLE: z.optional(z.string().check(z.minLength(3))),
  SUBSCRIPTIONS_TABLE: z.optional(z.string().check(z.minLength(3))),
  USERS_TABLE: z.optional(z.string().check(z.minLength(3))),
  NOTIFICATIONS_TABLE: z.optional(z.string().check(z.minLength(3))),
  DELIVERIES_TABLE: z.optional(z.string().check(z.minLength(3))),
  /** Name (or ARN) of the fan-out worker function, invoked asynchronously per shard. */
  FANOUT_WORKER_FUNCTION_NAME: z.optional(z.string().check(z.minLength(1))),
  /** The on-failure queue: invalid records and failed posts are dead-lettered there. */
  DEAD_LETTER_QUEUE_URL: z.optional(z.url()),
  /** Management API endpoint: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`. */
  MANAGEMENT_ENDPOINT: z.optional(z.url()),
  /** Name (or ARN) of the welcome function, invoked asynchronously by `$connect`. */
  WELCOME_FUNCTION_NAME: z.optional(z.string().check(z.minLength(1))),
  /** Another DynamoDB endpoint (DynamoDB Local). */
  DYNAMODB_ENDPOINT: z.optional(z.url()),
  /** Another Lambda endpoint (the local runtime's Invoke emulation). */
  LAMBDA_ENDPOINT: z.optional(z.url()),
  /** HS256 secret (local development, tests). */
  JWT_SECRET: z.optional(z.string().check(z.minLength(8))),
  /** Secrets Manager secret holding the HS256 secret (AWS). */
  JWT_SECRET_ARN: z.optional(z.string().check(z.minLength(1))),
});
export type LambdaEnvironment = z.infer<typeof lambdaEnvironmentSchema>;

export function readLambdaEnvironment(env: NodeJS.ProcessEnv = process.env): LambdaEnvironment {
  const result = lambdaEnvironmentSchema.safeParse(env);
  if (!result.success) {
    const issues = formatZodIssues(result.error);
    throw new ConfigError(`invalid environment\n  ${issues.join('\n  ')}`, issues);
  }
  return result.data;
}

/** The value of a variable this function cannot work without. */
export function required<K extends keyof LambdaEnvironment>(env: LambdaEnvironment, key: K): NonNullable<LambdaEnvironment[K]> {
  const value = env[key];
  if (value === undefined) throw new ConfigError(`${String(key)}: missing from the environment`);
  return value as NonNullable<LambdaEnvironment[K]>;
}
