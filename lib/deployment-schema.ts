import * as z from '../protocol/zod-mini.js';
import { ROUTES } from '../protocol/routes.js';

/**
 * The `[deployment]` section of Config.toml: what the CDK app needs to deploy the
 * service. The local runtime never reads it. Strict like the rest of the file: an unknown
 * key or a bad value fails synth with the key's name and what is allowed. CDK context
 * can override any key (see README, "Deploy" > "Configuration").
 */

/** CloudWatch Logs accepts only these retention periods (days). */
export const LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653] as const;

const ROUTE_KEYS = ROUTES.map((route) => route.routeKey) as [string, ...string[]];

const integer = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));

const mskClusterArn = z
  .string()
  .check(
    z.regex(
      /^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/[A-Za-z0-9-]+\/[A-Za-z0-9-]+$/,
      'an Amazon MSK cluster ARN (arn:aws:kafka:{region}:{account}:cluster/{name}/{uuid})',
    ),
  );
const secretArn = z
  .string()
  .check(
    z.regex(
      /^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:\d{12}:secret:[A-Za-z0-9/_+=.@-]+$/,
      'a Secrets Manager secret ARN (arn:aws:secretsmanager:{region}:{account}:secret:{name}-{suffix})',
    ),
  );

export const throttleSchema = z.strictObject({
  /** Steady-state requests per second. */
  rate: z.number().check(z.positive(), z.maximum(100000)),
  /** Requests allowed in a burst. */
  burst: integer(1, 100000),
});

export const kafkaDeploymentSchema = z
  .strictObject({
    /** Amazon MSK cluster (IAM authentication). Exclusive with `bootstrap_servers`. */
    msk_cluster_arn: z.optional(mskClusterArn),
    /** Self-managed brokers, `host:port`. Exclusive with `msk_cluster_arn`; needs `scram_secret_arn`. */
    bootstrap_servers: z.optional(z.array(z.string().check(z.regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'host:port'))).check(z.minLength(1))),
    /** Secret with `{"username","password"}` for SASL/SCRAM (self-managed brokers). */
    scram_secret_arn: z.optional(secretArn),
    scram_mechanism: z._default(z.enum(['SHA-512', 'SHA-256']), 'SHA-512'),
    /** Subnets the poller reaches self-managed brokers from (with `security_group_ids`). */
    subnet_ids: z.optional(z.array(z.string().check(z.regex(/^subnet-[0-9a-f]{8,17}$/, 'a subnet id (subnet-...)'))).check(z.minLength(1))),
    security_group_ids: z.optional(z.array(z.string().check(z.regex(/^sg-[0-9a-f]{8,17}$/, 'a security group id (sg-...)'))).check(z.minLength(1))),
    /**
     * Consumer group prefix; each topic's mapping joins `{consumer_group}-{topic}`
     * because Lambda needs a group id unique per event source mapping.
     */
    consumer_group: z._default(
      z.string().check(z.regex(/^[a-zA-Z0-9\-/*:_+=.@]{1,150}$/, 'letters, digits and - / * : _ + = . @ (at most 150)')),
      'notifications-fanout',
    ),
    batch_size: z._default(integer(1, 10000), 100),
    /** Seconds Lambda gathers records before invoking; 0 favours latency. */
    batching_window_seconds: z._default(integer(0, 300), 0),
    starting_position: z._default(z.enum(['LATEST', 'TRIM_HORIZON']), 'LATEST'),
    /** Retries of a failing batch before it goes to the on-failure queue. */
    retry_attempts: z._default(integer(0, 10000), 3),
    /** Provisioned pollers (needed for retries, bisect and ReportBatchItemFailures on Kafka). */
    min_pollers: z._default(integer(1, 200), 1),
    max_pollers: z._default(integer(1, 2000), 2),
  })
  .check(
    z.superRefine((kafka, ctx) => {
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
    }),
  );

export const alarmsSchema = z
  .strictObject({
    /** Email subscribed to a new, encrypted alarm topic. */
    email: z.optional(z.email()),
    /** An existing SNS topic for alarm actions (instead of `email`). */
    sns_topic_arn: z.optional(z.string().check(z.regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}$/, 'an SNS topic ARN'))),
    /** Messages in the on-failure queue that raise the alarm. */
    dlq_depth_threshold: z._default(z.int().check(z.minimum(1)), 1),
  })
  .check(
    z.refine((alarms) => !(alarms.email && alarms.sns_topic_arn), {
      message: 'set at most one of email and sns_topic_arn',
      path: ['email'],
    }),
  );

export const deploymentSchema = z.strictObject({
  /** CloudFormation stack name. */
  stack_name: z._default(
    z.string().check(z.regex(/^[A-Za-z][A-Za-z0-9-]{0,127}$/, 'a stack name: a letter, then letters, digits and -')),
    'RealtimeNotifications',
  ),
  /** WebSocket API stage; the last path segment of both URLs. */
  stage_name: z._default(z.string().check(z.regex(/^[A-Za-z0-9_-]{1,128}$/, 'letters, digits, _ and -')), 'prod'),
  /** What happens to the tables (and the generated JWT secret) when the stack is deleted. */
  removal_policy: z._default(z.enum(['retain', 'destroy']), 'retain'),
  /** At least 365 by default: Control Tower's CT.CLOUDWATCH.PR.2, checked at synth, requires it. */
  log_retention_days: z._default(
    z.number().check(
      z.refine((days) => (LOG_RETENTION_DAYS as readonly number[]).includes(days), {
        message: `one of ${LOG_RETENTION_DAYS.join(', ')}`,
      }),
    ),
    365,
  ),
  log_level: z._default(z.enum(['DEBUG', 'INFO', 'WARN', 'ERROR']), 'INFO'),
  /** Memory of every function, MB. */
  memory_mb: z._default(integer(128, 10240), 512),
  /** Stage-wide default throttling. */
  throttling: z._default(throttleSchema, { rate: 500, burst: 1000 }),
  /** Per-route throttling, keyed by route key (`"$connect"`, `subscribe`, ...). */
  route_throttling: z._default(z.partialRecord(z.enum(ROUTE_KEYS), throttleSchema), {}),
  /** The Kafka source of the fan-out function. Required by the CDK app. */
  kafka: z.optional(kafkaDeploymentSchema),
  /** Minutes between cleanup runs. */
  cleanup_rate_minutes: z._default(integer(1, 1440), 5),
  /**
   * HS256 verifier key (auth.mode = "hs256"): an existing secret whose value is the key.
   * When unset, the stack generates one.
   */
  jwt_secret_arn: z.optional(secretArn),
  /**
   * Create the account-wide API Gateway CloudWatch role (AWS::ApiGateway::Account) that
   * access logging needs. Turn off when the account already has one.
   */
  api_gateway_account_role: z._default(z.boolean(), true),
  alarms: z._default(alarmsSchema, { dlq_depth_threshold: 1 }),
  /** Tags on every resource. */
  tags: z._default(z.record(z.string().check(z.minLength(1), z.maxLength(128)), z.string().check(z.maxLength(256))), {}),
});

export type DeploymentConfig = z.infer<typeof deploymentSchema>;
export type KafkaDeploymentConfig = z.infer<typeof kafkaDeploymentSchema>;
export type ThrottleConfig = z.infer<typeof throttleSchema>;
