import { z } from 'zod';
import { ROUTES } from '../routes.js';

/**
 * The `[deployment]` section of Config.toml: what the CDK app needs to deploy the
 * service. The local runtime never reads it. Strict like the rest of the file: an unknown
 * key or a bad value fails synth with the key's name and what is allowed. CDK context
 * can override any key (see README, "Deploy" > "Configuration").
 */

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
] as const;

const ROUTE_KEYS = ROUTES.map((route) => route.routeKey) as [string, ...string[]];

const mskClusterArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9-]+\/[A-Za-z0-9-]+$/,
    'an Amazon MSK cluster ARN (arn:aws:kafka:{region}:{account}:cluster/{name}/{uuid})',
  );
const secretArn = z
  .string()
  .regex(
    /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
    'a Secrets Manager secret ARN (arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix})',
  );

export const throttleSchema = z.strictObject({
  /** Steady-state requests per second. */
  rate: z.number().positive().max(100000),
  /** Requests allowed in a burst. */
  burst: z.number().int().min(1).max(100000),
});

export const kafkaDeploymentSchema = z
  .strictObject({
    /** Amazon MSK cluster (IAM authentication). Exclusive with `bootstrap_servers`. */
    msk_cluster_arn: mskClusterArn.optional(),
    /** Self-managed brokers, `host:port`. Exclusive with `msk_cluster_arn`; needs `scram_secret_arn`. */
    bootstrap_servers: z.array(z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'host:port')).min(1).optional(),
    /** Secret with `{"username","password"}` for SASL/SCRAM (self-managed brokers). */
    scram_secret_arn: secretArn.optional(),
    scram_mechanism: z.enum(['SHA-512', 'SHA-256']).default('SHA-512'),
    /** Subnets the poller reaches self-managed brokers from (with `security_group_ids`). */
    subnet_ids: z.array(z.string().regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id (subnet-...)')).min(1).optional(),
    security_group_ids: z.array(z.string().regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id (sg-...)')).min(1).optional(),
    /**
     * Consumer group prefix; each topic's mapping joins `{consumer_group}-{topic}`
     * because Lambda needs a group id unique per event source mapping.
     */
    consumer_group: z
      .string()
      .regex(/^[a-zA-Z0-9\-/*:_+=.@]{1,150}$/, 'letters, digits and - / * : _ + = . @ (at most 150)')
      .default('notifications-fanout'),
    batch_size: z.number().int().min(1).max(10000).default(100),
    /** Seconds Lambda gathers records before invoking; 0 favours latency. */
    batching_window_seconds: z.number().int().min(0).max(300).default(0),
    starting_position: z.enum(['LATEST', 'TRIM_HORIZON']).default('LATEST'),
    /** Retries of a failing batch before it goes to the on-failure queue. */
    retry_attempts: z.number().int().min(0).max(10000).default(3),
    /** Provisioned pollers (needed for retries, bisect and ReportBatchItemFailures on Kafka). */
    min_pollers: z.number().int().min(1).max(200).default(1),
    max_pollers: z.number().int().min(1).max(2000).default(2),
  })
  .superRefine((kafka, ctx) => {
    const sources = [kafka.msk_cluster_arn, kafka.bootstrap_servers].filter((value) => value !== undefined);
    if (sources.length !== 1) {
      ctx.addIssue({
        code: 'custom',
        path: ['msk_cluster_arn'],
        message: 'set exactly one of msk_cluster_arn (Amazon MSK, IAM auth) and bootstrap_servers (self-managed, SASL/SCRAM)',
      });
    }
    if (kafka.bootstrap_servers && !kafka.scram_secret_arn) {
      ctx.addIssue({ code: 'custom', path: ['scram_secret_arn'], message: 'required with bootstrap_servers (SASL/SCRAM secret ARN)' });
    }
    if (kafka.msk_cluster_arn && (kafka.scram_secret_arn || kafka.subnet_ids || kafka.security_group_ids)) {
      ctx.addIssue({
        code: 'custom',
        path: ['msk_cluster_arn'],
        message: 'with msk_cluster_arn, leave scram_secret_arn, subnet_ids and security_group_ids unset (MSK uses IAM auth and its own VPC)',
      });
    }
    if ((kafka.subnet_ids === undefined) !== (kafka.security_group_ids === undefined)) {
      ctx.addIssue({ code: 'custom', path: ['subnet_ids'], message: 'subnet_ids and security_group_ids go together' });
    }
    if (kafka.min_pollers > kafka.max_pollers) {
      ctx.addIssue({ code: 'custom', path: ['min_pollers'], message: `${kafka.min_pollers} is above max_pollers = ${kafka.max_pollers}` });
    }
  });

export const alarmsSchema = z
  .strictObject({
    /** Email subscribed to a new, encrypted alarm topic. */
    email: z.email().optional(),
    /** An existing SNS topic for alarm actions (instead of `email`). */
    sns_topic_arn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN')
      .optional(),
    /** Messages in the on-failure queue that raise the alarm. */
    dlq_depth_threshold: z.number().int().min(1).default(1),
  })
  .refine((alarms) => !(alarms.email && alarms.sns_topic_arn), {
    message: 'set at most one of email and sns_topic_arn',
    path: ['email'],
  });

export const deploymentSchema = z.strictObject({
  /** CloudFormation stack name. */
  stack_name: z
    .string()
    .regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'a stack name: a letter, then letters, digits and -')
    .default('RealtimeNotifications'),
  /** WebSocket API stage; the last path segment of both URLs. */
  stage_name: z.string().regex(/^[A-Za-z0-9_-]{1,128}$/, 'letters, digits, _ and -').default('prod'),
  /** What happens to the tables (and the generated JWT secret) when the stack is deleted. */
  removal_policy: z.enum(['retain', 'destroy']).default('retain'),
  log_retention_days: z
    .number()
    .refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
      message: `one of ${LOG_RETENTION_DAYS.join(', ')}`,
    })
    .default(30),
  log_level: z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']).default('INFO'),
  /** Memory of every function, MB. */
  memory_mb: z.number().int().min(128).max(10240).default(512),
  /** Stage-wide default throttling. */
  throttling: throttleSchema.default({ rate: 500, burst: 1000 }),
  /** Per-route throttling, keyed by route key (`"$connect"`, `subscribe`, ...). */
  route_throttling: z.partialRecord(z.enum(ROUTE_KEYS), throttleSchema).default({}),
  /** The Kafka source of the fan-out function. Required by the CDK app. */
  kafka: kafkaDeploymentSchema.optional(),
  /** Minutes between cleanup runs. */
  cleanup_rate_minutes: z.number().int().min(1).max(1440).default(5),
  /**
   * HS256 verifier key (auth.mode = "hs256"): an existing secret whose value is the key.
   * When unset, the stack generates one.
   */
  jwt_secret_arn: secretArn.optional(),
  /**
   * Create the account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account) that
   * access logging needs. Turn off when the account already has one.
   */
  api_gateway_account_role: z.boolean().default(true),
  alarms: alarmsSchema.default({ dlq_depth_threshold: 1 }),
  /** Tags on every resource. */
  tags: z.record(z.string().min(1).max(128), z.string().max(256)).default({}),
});

export type DeploymentConfig = z.infer<typeof deploymentSchema>;
export type KafkaDeploymentConfig = z.infer<typeof kafkaDeploymentSchema>;
export type ThrottleConfig = z.infer<typeof throttleSchema>;
