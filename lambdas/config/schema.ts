import { z } from 'zod';
import { deploymentSchema } from './deployment.js';

/**
 * The `Config.toml` schema (protocol section 8). One source of truth for the local
 * runtime, the Lambda handlers (through environment variables, see `environment.ts`)
 * and the CDK app. Every table is strict: an unknown key fails with its name.
 */

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

/** A channel pattern: an exact name, or a name with `*` wildcards (`team-*`). */
const channelPattern = z
  .string()
  .regex(/^[a-z0-9*][a-z0-9._:*{}-]{0,127}$/, 'a channel name, optionally with * wildcards');

export const websocketSchema = z.strictObject({
  /** Bytes; a larger client message gets MESSAGE_TOO_LARGE. */
  max_frame_size: z.number().int().min(1024).max(131072).default(65536),
  /** Offered subprotocols the server accepts, in preference order of the client. */
  subprotocols: z.array(z.string().regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'an HTTP token')).default(['chat', 'notifications']),
  /** Seconds without heartbeat after which a connection is stale. */
  idle_timeout: seconds(30, 86400).default(900),
  /** Seconds allowed for reads from the store. */
  read_timeout: seconds(1, 900).default(60),
  /** Seconds allowed for one post to one connection. */
  write_timeout: seconds(1, 900).default(60),
  max_connections_per_user: z.number().int().min(1).max(1000).default(5),
  /** Client frames per connection per second (token bucket refill). */
  rate_limit_per_second: z.number().positive().max(10000).default(10),
  /** Token bucket size. */
  rate_limit_burst: z.number().int().min(1).max(100000).default(20),
  /** Seconds, told to clients in `welcome`. */
  heartbeat_interval: seconds(5, 3600).default(300),
  /** Seconds that missed notifications stay recoverable. */
  history_ttl: seconds(60, 31536000).default(604800),
});

export const channelsSchema = z.strictObject({
  /**
   * Channel pattern -> roles allowed to subscribe. `"*"` in the list means any
   * authenticated user. `user-{id}` and `system-announcements` follow fixed rules
   * and need no entry.
   */
  access: z
    .record(channelPattern, z.array(z.string().min(1)).min(1, 'at least one role, or "*" for any user'))
    .default({ 'booking-updates': ['*'], 'waitlist-notifications': ['*'] }),
  /** Most channels one connection may hold (including the automatic ones). */
  max_per_connection: z.number().int().min(2).max(500).default(50),
  /** Most channels in one subscribe or unsubscribe request. */
  max_per_request: z.number().int().min(1).max(100).default(20),
});

export const authSchema = z.strictObject({
  /** `hs256`: a shared secret; `jwks`: RS256/ES256 keys from a JWKS URL. */
  mode: z.enum(['hs256', 'jwks']).default('hs256'),
  /** Local HS256 secret; `JWT_SECRET` in the environment wins. Never used in AWS. */
  hs256_secret: z.string().min(8).optional(),
  /** JWKS URL (mode = "jwks"), e.g. a Cognito user pool's `.well-known/jwks.json`. */
  jwks_url: z.url().optional(),
  /** Expected `iss`, checked when set. */
  issuer: z.string().min(1).optional(),
  /** Expected `aud`, checked when set. */
  audience: z.string().min(1).optional(),
});

export const kafkaSchema = z.strictObject({
  /** Kafka topics the fan-out consumes. */
  topics: z.array(z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name')).min(1).default(['booking-updates']),
  /** Topic -> channel, for records that name no target. Default: the topic's own name. */
  topic_channels: z.record(z.string(), z.string()).default({}),
  /** Most posts in flight at once in one fan-out invocation. */
  fanout_concurrency: z.number().int().min(1).max(1000).default(50),
});

export const deliverySchema = z.strictObject({
  /**
   * Connections per shard. An audience up to this size is posted by the fan-out itself;
   * a larger one is split into shards that worker invocations post in parallel. At most
   * 2000, so a shard's targets fit one DynamoDB item.
   */
  shard_size: z.number().int().min(10).max(2000).default(1000),
  /** API Gateway's account quota for Management API requests, per second (shared by every post). */
  api_quota_per_second: z.number().int().min(1).max(1_000_000).default(10000),
  /**
   * Share of that quota one record's fan-out (all its workers together) may use. With
   * several partitions fanning out at once, keep their sum below 1 so that `welcome`
   * and `recover` still get through.
   */
  quota_share: z.number().gt(0).max(1).default(0.25),
  /** Attempts per post (the first included) on 429 and 5xx; fewer when the invocation's time runs out. */
  post_attempts: z.number().int().min(1).max(20).default(6),
});

export const notificationServiceSchema = z.strictObject({
  websocket: websocketSchema.default(websocketSchema.parse({})),
  channels: channelsSchema.default(channelsSchema.parse({})),
  auth: authSchema.default(authSchema.parse({})),
  kafka: kafkaSchema.default(kafkaSchema.parse({})),
  delivery: deliverySchema.default(deliverySchema.parse({})),
});

export const configSchema = z.strictObject({
  notification_service: notificationServiceSchema.default(notificationServiceSchema.parse({})),
  /** Deployment settings read by the CDK app only (see README, "Deploy"). */
  deployment: deploymentSchema.optional(),
});

export type ServiceConfig = z.infer<typeof notificationServiceSchema>;
export type WebSocketConfig = z.infer<typeof websocketSchema>;
export type ChannelsConfig = z.infer<typeof channelsSchema>;
export type AuthConfig = z.infer<typeof authSchema>;
export type KafkaConfig = z.infer<typeof kafkaSchema>;
export type DeliveryConfig = z.infer<typeof deliverySchema>;
export type Config = z.infer<typeof configSchema>;
