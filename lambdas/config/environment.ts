import { z } from 'zod';
import { ConfigError } from './errors.js';

/**
 * The environment every Lambda of the service reads at cold start, validated once.
 * The CDK construct sets it in AWS; the local runtime sets it in its own process.
 */
export const lambdaEnvironmentSchema = z.object({
  /** JSON of the `[notification_service]` section of Config.toml. */
  SERVICE_CONFIG: z.string().optional(),
  CONNECTIONS_TABLE: z.string().min(3).optional(),
  SUBSCRIPTIONS_TABLE: z.string().min(3).optional(),
  USERS_TABLE: z.string().min(3).optional(),
  NOTIFICATIONS_TABLE: z.string().min(3).optional(),
  IDEMPOTENCY_TABLE: z.string().min(3).optional(),
  DELIVERIES_TABLE: z.string().min(3).optional(),
  /** Name (or ARN) of the fan-out worker function, invoked asynchronously per shard. */
  FANOUT_WORKER_FUNCTION_NAME: z.string().min(1).optional(),
  /** The on-failure queue: invalid records and failed posts are dead-lettered there. */
  DEAD_LETTER_QUEUE_URL: z.url().optional(),
  /** Management API endpoint: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`. */
  MANAGEMENT_ENDPOINT: z.url().optional(),
  /** Name (or ARN) of the welcome function, invoked asynchronously by `$connect`. */
  WELCOME_FUNCTION_NAME: z.string().min(1).optional(),
  /** Another DynamoDB endpoint (DynamoDB Local). */
  DYNAMODB_ENDPOINT: z.url().optional(),
  /** Another Lambda endpoint (the local runtime's Invoke emulation). */
  LAMBDA_ENDPOINT: z.url().optional(),
  /** HS256 secret (local development, tests). */
  JWT_SECRET: z.string().min(8).optional(),
  /** Secrets Manager secret holding the HS256 secret (AWS). */
  JWT_SECRET_ARN: z.string().min(1).optional(),
});
export type LambdaEnvironment = z.infer<typeof lambdaEnvironmentSchema>;

export function readLambdaEnvironment(env: NodeJS.ProcessEnv = process.env): LambdaEnvironment {
  const result = lambdaEnvironmentSchema.safeParse(env);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
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
