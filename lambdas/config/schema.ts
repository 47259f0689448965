import * as z from '../../protocol/zod-mini.js';
import { deploymentSchema } from '../../lib/deployment-schema.js';

/**
 * The `Config.toml` schema (protocol section 8). One source of truth for the local
 * runtime, the Lambda handlers (through environment variables, see `environment.ts`)
 * and the CDK app. Every table is strict: an unknown key fails with its name.
 */

const integer = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));
/** Whole seconds, in a range. */
const seconds = integer;

/** A channel pattern: an exact name, or a name with `*` wildcards (`team-*`). */
const channelPattern = z.string().check(z.regex(/^[a-z0-9*][a-z0-9._:*{}-]{0,127}$/, 'a channel name, optionally with * wildcards'));

export const websocketSchema = z.strictObject({
  /** Bytes; a larger client message gets MESSAGE_TOO_LARGE. */
  max_frame_size: z._default(integer(1024, 131072), 65536),
  /** Offered subprotocols the server accepts, in preference order of the client. */
  subprotocols: z._default(z.array(z.string().check(z.regex(/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/, 'an HTTP token'))), ['chat', 'notifications']),
  /** Seconds without heartbeat after which a connection is stale. */
  idle_timeout: z._default(seconds(30, 86400), 900),
  /** Seconds allowed for reads from the store. */
  read_timeout: z._default(seconds(1, 900), 60),
  /** Seconds allowed for one post to one connection. */
  write_timeout: z._default(seconds(1, 900), 60),
  max_connections_per_user: z._default(integer(1, 1000), 5),
  /** Client frames per connection per second (token bucket refill). */
  rate_limit_per_second: z._default(z.number().check(z.positive(), z.maximum(10000)), 10),
  /** Token bucket size. */
  rate_limit_burst: z._default(integer(1, 100000), 20),
  /** Seconds, told to clients in `welcome`. */
  heartbeat_interval: z._default(seconds(5, 3600), 300),
  /** Seconds that missed notifications stay recoverable. */
  history_ttl: z._default(seconds(60, 31536000), 604800),
});

export const channelsSchema = z.strictObject({
  /**
   * Channel pattern -> roles allowed to subscribe. `"*"` in the list means any
   * authenticated user. `user-{id}` and `system-announcements` follow fixed rules
   * and need no entry.
   */
  access: z._default(z.record(channelPattern, z.array(z.string().check(z.minLength(1))).check(z.minLength(1, 'at least one role, or "*" for any user'))), {
    'booking-updates': ['*'],
    'waitlist-notifications': ['*'],
  }),
  /**
   * Channel patterns (same `*` wildcard as `access`) whose subscribers see each other:
   * `members`, `join` / `leave`, and the `presence` query (protocol section 9). Who may
   * subscribe still follows `access`.
   */
  presence: z._default(z.array(channelPattern), []),
  /** Above this many members a presence channel answers `members` with the count only and sends no `join` / `leave`. */
  presence_max_members: z._default(integer(1, 10000), 100),
  /** Most channels one connection may hold (including the automatic ones). */
  max_per_connection: z._default(integer(2, 500), 50),
  /** Most channels in one subscribe or unsubscribe request. */
  max_per_request: z._default(integer(1, 100), 20),
});

export const authSchema = z.strictObject({
  /** `hs256`: a shared secret; `jwks`: RS256/ES256 keys from a JWKS URL. */
  mode: z._default(z.enum(['hs256', 'jwks']), 'hs256'),
  /** Local HS256 secret; `JWT_SECRET` in the environment wins. Never used in AWS. */
  hs256_secret: z.optional(z.string().check(z.minLength(8))),
  /** JWKS URL (mode = "jwks"), e.g. a Cognito user pool's `.well-known/jwks.json`. */
  jwks_url: z.optional(z.url()),
  /** Expected `iss`, checked when set. */
  issuer: z.optional(z.string().check(z.minLength(1))),
  /** Expected `aud`, checked when set. */
  audience: z.optional(z.string().check(z.minLength(1))),
});

export const kafkaSchema = z.strictObject({
  /** Kafka topics the fan-out consumes. */
  topics: z._default(
    z
      .array(
        z
          .string()
          .check(
            z.regex(
              /^[a-zA-Z0-9._-]{2,249}$/,
              'a Kafka topic name of 2 to 249 letters, digits, ".", "_" or "-" (Lambda\'s Kafka trigger refuses 1-character names)',
            ),
          ),
      )
      .check(z.minLength(1)),
    // The channels of the original module (protocol section 5), each its own topic.
    ['booking-updates', 'waitlist-notifications', 'system-announcements'],
  ),
  /** Topic -> channel, for records that name no target. Default: the topic's own name. */
  topic_channels: z._default(z.record(z.string(), z.string()), {}),
  /** Most posts in flight at once in one fan-out invocation. */
  fanout_concurrency: z._default(integer(1, 1000), 50),
});

export const deliverySchema = z.strictObject({
  /**
   * Connections per shard. An audience up to this size is posted by the fan-out itself;
   * a larger one is split into shards that worker invocations post in parallel. At most
   * 2000, so a shard's targets fit one DynamoDB item.
   */
  shard_size: z._default(integer(10, 2000), 1000),
  /** API Gateway's account quota for Management API requests, per second (shared by every post). */
  api_quota_per_second: z._default(integer(1, 1_000_000), 10000),
  /**
   * Share of that quota one record's fan-out (all its workers together) may use. With
   * several partitions fanning out at once, keep their sum below 1 so that `welcome`
   * and `recover` still get through.
   */
  quota_share: z._default(z.number().check(z.gt(0), z.maximum(1)), 0.25),
  /** Attempts per post (the first included) on 429 and 5xx; fewer when the invocation's time runs out. */
  post_attempts: z._default(integer(1, 20), 6),
  /**
   * How long a shard's (or a small delivery's) lease lasts past each claim, never past the
   * invocation: after a crash, the work waits at most this long for another run. Posts are
   * fenced on it: no attempt is started that could end after the lease.
   */
  lease_seconds: z._default(integer(1, 900), 60),
  /**
   * Connections posted per progress write, and the largest audience the lean path takes
   * (no plan). A crash leaves at most this many in doubt (recoverable); smaller chunks
   * cost more requests per delivery (docs/delivery.md, "What progress costs").
   */
  chunk_size: z._default(integer(10, 2000), 1000),
});

export const notificationServiceSchema = z.strictObject({
  websocket: z._default(websocketSchema, websocketSchema.parse({})),
  channels: z._default(channelsSchema, channelsSchema.parse({})),
  auth: z._default(authSchema, authSchema.parse({})),
  kafka: z._default(kafkaSchema, kafkaSchema.parse({})),
  delivery: z._default(deliverySchema, deliverySchema.parse({})),
});

export const configSchema = z.strictObject({
  notification_service: z._default(notificationServiceSchema, notificationServiceSchema.parse({})),
  /** Deployment settings read by the CDK app only (see README, "Deploy"). */
  deployment: z.optional(deploymentSchema),
});

export type ServiceConfig = z.infer<typeof notificationServiceSchema>;
export type WebSocketConfig = z.infer<typeof websocketSchema>;
export type ChannelsConfig = z.infer<typeof channelsSchema>;
export type AuthConfig = z.infer<typeof authSchema>;
export type KafkaConfig = z.infer<typeof kafkaSchema>;
export type DeliveryConfig = z.infer<typeof deliverySchema>;
export type Config = z.infer<typeof configSchema>;
