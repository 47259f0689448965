import { GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ConnectionNotFoundError } from '../../domain/errors.js';
import type { HeartbeatActivity, RateLimiter } from '../../domain/ports.js';
import { isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';

export interface DynamoDbRateLimiterProps extends DynamoDbStoreProps {
  /** Tokens added per second. */
  readonly ratePerSecond: number;
  /** Bucket size: the most frames a connection may send at once after a quiet spell. */
  readonly burst: number;
}

/** The connection's activity as stored: the index's lastSeenAt and the last heartbeat. */
interface Activity {
  readonly lastSeenAt?: string | undefined;
  readonly heartbeatAt?: string | undefined;
}

interface Bucket {
  readonly tokens: number;
  /** Epoch ms of the last take; undefined when nothing was ever taken. */
  readonly at?: number;
}

/**
 * Bound on lost races for one frame. Every lost race means another frame took a token,
 * so the loop ends by itself once the bucket is empty; a burst within the bucket that
 * arrives all at once (API Gateway invokes concurrently) must not be refused for racing.
 */
const MAX_ATTEMPTS = 64;
/**
 * Buckets remembered per container. A forgotten one costs one extra read on the next
 * frame, so the oldest are dropped rather than letting a long-lived container grow.
 */
const MAX_REMEMBERED = 10_000;

/**
 * A token bucket per connection, stored on its Connections item (`rateTokens`,
 * `rateAt`). Each container remembers the last state it saw; the write is conditional on
 * the stored pair still being that state, so concurrent containers never both spend the
 * same token, and an accepted frame costs exactly one write (a refused one none).
 *
 * A heartbeat reads the item first and records itself in the same write that takes its
 * token (`heartbeatAt`, and `lastSeenAt` when the activity index's copy is due): an idle
 * connection's heartbeat costs half a read unit and one write unit, plus two index write
 * units on the beats that move `lastSeenAt` (docs/decisions.md, "Idle connections").
 */
export class DynamoDbRateLimiter implements RateLimiter {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;
  private readonly ratePerSecond: number;
  private readonly burst: number;
  private readonly known = new Map<string, Bucket>();

  constructor(props: DynamoDbRateLimiterProps) {
    if (!(props.ratePerSecond > 0)) throw new Error(`ratePerSecond: ${props.ratePerSecond}; it must be above 0`);
    if (!(props.burst >= 1)) throw new Error(`burst: ${props.burst}; it must be at least 1`);
    this.client = props.client;
    this.tables = props.tables;
    this.ratePerSecond = props.ratePerSecond;
    this.burst = props.burst;
  }

  async tryTake(connectionId: string, nowMs: number, heartbeat?: HeartbeatActivity): Promise<boolean> {
    let bucket: Bucket;
    let seen: Activity = {};
    if (heartbeat) {
      // A heartbeat's write may also move lastSeenAt, which only a read can tell: an
      // eventually consistent read costs half a read unit, a write that fails its
      // condition a whole write unit. Containers rarely hold a connection's last state
      // when its frames are minutes apart, so the bucket is read as well.
      const stored = (await this.read(connectionId, false)) ?? (await this.read(connectionId, true));
      if (!stored) {
        this.known.delete(connectionId);
        throw new ConnectionNotFoundError(connectionId);
      }
      ({ bucket, seen } = stored);
      heartbeat.read?.(stored.connection);
    } else {
      bucket = this.known.get(connectionId) ?? { tokens: this.burst };
    }
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const available = this.refill(bucket, nowMs);
      // Others only ever take tokens, so if our view is empty the real bucket is too.
      if (available < 1) return false;
      // Never moves `rateAt` back (clocks of containers differ): time is only credited once.
      const taken: Bucket = { tokens: available - 1, at: Math.max(nowMs, bucket.at ?? nowMs) };
      const sets = ['rateTokens = :tokens', 'rateAt = :at'];
      if (heartbeat) {
        // heartbeatAt never moves back; lastSeenAt (the activity index's sort key: two
        // index writes per move) only when the index's copy is older than asked.
        if (seen.heartbeatAt === undefined || seen.heartbeatAt < heartbeat.at) sets.push('heartbeatAt = :seen');
        if (seen.lastSeenAt === undefined || seen.lastSeenAt < heartbeat.indexIfBefore) sets.push('lastSeenAt = :seen');
      }
      const recordsSeen = sets.length > 2;
      try {
        await this.client.send(
          new UpdateCommand({
            TableName: this.tables.Connections,
            Key: { connectionId },
            UpdateExpression: `SET ${sets.join(', ')}`,
            // The pair, not rateAt alone, identifies the state we computed from: two takes
            // in the same millisecond leave rateAt unchanged but not rateTokens.
            ConditionExpression:
              bucket.at === undefined
                ? 'attribute_exists(connectionId) AND attribute_not_exists(rateAt)'
                : 'attribute_exists(connectionId) AND rateAt = :knownAt AND rateTokens = :knownTokens',
            ExpressionAttributeValues: {
              ':tokens': taken.tokens,
              ':at': taken.at,
              ...(recordsSeen ? { ':seen': heartbeat?.at } : {}),
              ...(bucket.at === undefined ? {} : { ':knownAt': bucket.at, ':knownTokens': bucket.tokens }),
            },
            // A lost race hands back the state that won, saving the read.
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          }),
        );
        this.remember(connectionId, taken);
        return true;
      } catch (error) {
        if (!isConditionalCheckFailed(error)) throw translateSdkError(error, 'UpdateItem');
        const old = (error as { Item?: Record<string, { N?: string; S?: string }> }).Item;
        if (old) {
          bucket = this.bucketOf(old.rateTokens?.N, old.rateAt?.N);
          seen = { lastSeenAt: old.lastSeenAt?.S, heartbeatAt: old.heartbeatAt?.S };
          this.remember(connectionId, bucket);
          continue;
        }
      }
      const stored = await this.read(connectionId, true);
      if (!stored) {
        this.known.delete(connectionId);
        if (heartbeat) throw new ConnectionNotFoundError(connectionId);
        // Nothing to charge: the route handler deals with connections that are gone.
        return true;
      }
      ({ bucket, seen } = stored);
      this.remember(connectionId, bucket);
    }
    return false;
  }

  private remember(connectionId: string, bucket: Bucket): void {
    // Re-inserted so that Map order is least recently used first.
    this.known.delete(connectionId);
    this.known.set(connectionId, bucket);
    if (this.known.size > MAX_REMEMBERED) this.known.delete(this.known.keys().next().value as string);
  }

  private refill(bucket: Bucket, nowMs: number): number {
    if (bucket.at === undefined) return this.burst;
    const elapsedSeconds = Math.max(0, nowMs - bucket.at) / 1000;
    return Math.min(this.burst, bucket.tokens + elapsedSeconds * this.ratePerSecond);
  }

  private async read(
    connectionId: string,
    consistent: boolean,
  ): Promise<{ bucket: Bucket; seen: Activity; connection: { userId: string; channels: string[] } } | undefined> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tables.Connections,
          Key: { connectionId },
          ConsistentRead: consistent,
          // The user and channels too: a read unit covers 4 KB, so the heartbeat's heads cost no read of their own.
          ProjectionExpression: 'connectionId, rateTokens, rateAt, lastSeenAt, heartbeatAt, userId, channels',
        }),
      ),
    );
    if (!output.Item) return undefined;
    const { rateTokens, rateAt, lastSeenAt, heartbeatAt, userId, channels } = output.Item;
    return {
      connection: { userId: String(userId), channels: channels instanceof Set ? [...(channels as Set<string>)] : [] },
      bucket: this.bucketOf(rateTokens, rateAt),
      seen: {
        ...(typeof lastSeenAt === 'string' ? { lastSeenAt } : {}),
        ...(typeof heartbeatAt === 'string' ? { heartbeatAt } : {}),
      },
    };
  }

  private bucketOf(rateTokens: unknown, rateAt: unknown): Bucket {
    return rateAt === undefined ? { tokens: this.burst } : { tokens: Number(rateTokens), at: Number(rateAt) };
  }
}
