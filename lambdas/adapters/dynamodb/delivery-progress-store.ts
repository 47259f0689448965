import { BatchGetCommand, GetCommand, PutCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { ThrottledError, TransientError } from '../../domain/errors.js';
import { COUNT_NAMES, countsFrom, emptyCounts } from '../../domain/fanout/outcome-counts.js';
import { assertNextClaim, type DeliveryJob, type NextClaim, type ShardCounts, type ShardKey, type ShardState } from '../../domain/fanout/shard-plan.js';
import type { ConnectionRef } from '../../domain/model.js';
import type { DeliveryProgressStore } from '../../domain/ports.js';
import { batchGetAll, batchWriteAll } from './batch-operations.js';
import { isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';

/** Most connections in one shard: its targets must fit one item (400 KB) at the longest ids. */
export const MAX_SHARD_SIZE = 2000;

/** Every attribute of a progress item: what the fan-out polls. */
const PROGRESS_ATTRIBUTES = ['messageId', 'planId', 'idx', 'total', 'cursor', 'claimedUntil', 'owner', 'leaseUntilMs', 'done', ...COUNT_NAMES];

/**
 * Delivery jobs and shard progress in the Deliveries table (docs/data-model.md): a job
 * item `job#{messageId}`, and per shard a progress item `shard#{messageId}#{planId}#{index}`
 * and a targets item `targets#{messageId}#{planId}#{index}`, each in its own partition
 * so that parallel workers never share one. Targets are one JSON string
 * (`[[connectionId, userId], ...]`), written once with the plan and read once per run;
 * they are kept apart from the progress because DynamoDB bills an update by the size of
 * the whole item: on a shard of 1,000 targets (about 40 KB) every cursor move cost 40
 * write units, on the progress item alone it costs 1.
 */
export class DynamoDbDeliveryProgressStore implements DeliveryProgressStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
  }

  async getJob(messageId: string): Promise<DeliveryJob | undefined> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Deliveries, Key: { pk: jobKey(messageId) }, ConsistentRead: true })),
    );
    const item = output.Item;
    if (!item) return undefined;
    return {
      messageId: item.messageId as string,
      planId: item.planId as string,
      data: item.data as string,
      shardCount: item.shardCount as number,
      targetCount: item.targetCount as number,
      plannedAt: item.plannedAt as string,
      postsPerSecond: item.postsPerSecond as number,
    };
  }

  async createJob(job: DeliveryJob, shards: readonly (readonly ConnectionRef[])[], ttlSeconds: number): Promise<boolean> {
    const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
    for (const shard of shards) {
      if (shard.length > MAX_SHARD_SIZE) throw new RangeError(`a shard holds at most ${MAX_SHARD_SIZE} connections, got ${shard.length}`);
    }
    // Shards first, the job last: the job's existence means its shards are all stored.
    await batchWriteAll(
      this.client,
      this.tables.Deliveries,
      shards.flatMap((targets, index) => {
        const key = { messageId: job.messageId, planId: job.planId, index };
        return [
          {
            PutRequest: {
              Item: {
                pk: targetsKey(key),
                targets: JSON.stringify(targets.map((ref) => [ref.connectionId, ref.userId])),
                expiresAt,
              },
            },
          },
          {
            PutRequest: {
              Item: {
                pk: shardKey(key),
                messageId: job.messageId,
                planId: job.planId,
                idx: index,
                total: targets.length,
                cursor: 0,
                claimedUntil: 0,
                leaseUntilMs: 0,
                done: false,
                ...emptyCounts(),
                expiresAt,
              },
            },
          },
        ];
      }),
    );
    try {
      await this.client.send(
        new PutCommand({
          TableName: this.tables.Deliveries,
          Item: { pk: jobKey(job.messageId), ...job, expiresAt },
          ConditionExpression: 'attribute_not_exists(pk)',
        }),
      );
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw translateSdkError(error, 'PutItem');
    }
  }

  async getShard(key: ShardKey): Promise<ShardState | undefined> {
    // One request for both items; the targets only while the shard is not done.
    const output = await translatingErrors('BatchGetItem', () =>
      this.client.send(
        new BatchGetCommand({
          RequestItems: { [this.tables.Deliveries]: { Keys: [{ pk: shardKey(key) }, { pk: targetsKey(key) }], ConsistentRead: true } },
        }),
      ),
    );
    const unread = output.UnprocessedKeys?.[this.tables.Deliveries]?.Keys?.length ?? 0;
    if (unread > 0) {
      // DynamoDB left part of the read undone (throttling): the caller retries it whole.
      throw new ThrottledError('DynamoDB throttled BatchGetItem (unprocessed keys)');
    }
    const items = output.Responses?.[this.tables.Deliveries] ?? [];
    const progress = items.find((item) => item.pk === shardKey(key));
    if (!progress) return undefined;
    const state = toShardState(progress);
    if (state.done) return state;
    const targets = items.find((item) => item.pk === targetsKey(key));
    return { ...state, targets: targetsOf(targets) };
  }

  async listShards(job: DeliveryJob): Promise<ShardState[]> {
    const keys = Array.from({ length: job.shardCount }, (_, index) => ({
      pk: shardKey({ messageId: job.messageId, planId: job.planId, index }),
    }));
    const items = await batchGetAll(this.client, this.tables.Deliveries, keys, { consistentRead: true, projection: PROGRESS_ATTRIBUTES });
    return items.map(toShardState).sort((a, b) => a.index - b.index);
  }

  async acquire(key: ShardKey, owner: string, leaseUntilMs: number, nowMs: number): Promise<ShardState | undefined> {
    const attributes = await this.conditionalUpdate(key, {
      UpdateExpression: 'SET #owner = :owner, leaseUntilMs = :lease',
      ConditionExpression: 'attribute_exists(pk) AND done = :false AND (leaseUntilMs <= :now OR #owner = :owner)',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': owner, ':lease': leaseUntilMs, ':now': nowMs, ':false': false },
      ReturnValues: 'ALL_NEW',
    });
    if (!attributes) return undefined;
    const state = toShardState(attributes);
    // Targets never change once planned, and were stored before the job: a consistent
    // read finds them.
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Deliveries, Key: { pk: targetsKey(key) }, ConsistentRead: true })),
    );
    return { ...state, targets: targetsOf(output.Item) };
  }

  async acquireAndClaim(
    key: ShardKey,
    owner: string,
    leaseUntilMs: number,
    nowMs: number,
    from: number,
    until: number,
    withTargets: boolean,
  ): Promise<ShardState | undefined> {
    const update = this.conditionalUpdate(key, {
      UpdateExpression: 'SET #owner = :owner, leaseUntilMs = :lease, claimedUntil = :until',
      ConditionExpression: 'attribute_exists(pk) AND done = :false AND (leaseUntilMs <= :now OR #owner = :owner) AND #cursor = :from AND claimedUntil = :from',
      ExpressionAttributeNames: { '#owner': 'owner', '#cursor': 'cursor' },
      ExpressionAttributeValues: { ':owner': owner, ':lease': leaseUntilMs, ':now': nowMs, ':false': false, ':from': from, ':until': until },
      ReturnValues: 'ALL_NEW',
    });
    // The targets never change once planned: read them beside the write, in the same round trip.
    const targets = withTargets ? this.readTargets(key) : undefined;
    targets?.catch(() => undefined);
    const attributes = await update;
    if (!attributes) return undefined;
    const state = toShardState(attributes);
    return targets ? { ...state, targets: await targets } : state;
  }

  private async readTargets(key: ShardKey): Promise<ConnectionRef[]> {
    const output = await translatingErrors('GetItem', () =>
      this.client.send(new GetCommand({ TableName: this.tables.Deliveries, Key: { pk: targetsKey(key) }, ConsistentRead: true })),
    );
    return targetsOf(output.Item);
  }

  async claim(key: ShardKey, owner: string, from: number, until: number, leaseUntilMs: number): Promise<boolean> {
    return (
      (await this.conditionalUpdate(key, {
        UpdateExpression: 'SET claimedUntil = :until, leaseUntilMs = :lease',
        ConditionExpression: '#owner = :owner AND #cursor = :from AND claimedUntil = :from',
        ExpressionAttributeNames: { '#owner': 'owner', '#cursor': 'cursor' },
        ExpressionAttributeValues: { ':owner': owner, ':from': from, ':until': until, ':lease': leaseUntilMs },
      })) !== undefined
    );
  }

  async complete(key: ShardKey, owner: string, from: number, until: number, counts: ShardCounts, done: boolean, next?: NextClaim): Promise<boolean> {
    assertNextClaim(until, done, next);
    const values: Record<string, unknown> = { ':owner': owner, ':from': from, ':until': until, ':done': done };
    for (const name of COUNT_NAMES) values[`:${name}`] = counts[name];
    if (next) Object.assign(values, { ':next': next.until, ':lease': next.leaseUntilMs });
    return (
      (await this.conditionalUpdate(key, {
        UpdateExpression: `SET #cursor = :until, done = :done${next ? ', claimedUntil = :next, leaseUntilMs = :lease' : ''} ADD ${COUNT_NAMES.map((name) => `${name} :${name}`).join(', ')}`,
        ConditionExpression: `#owner = :owner AND #cursor = :from AND claimedUntil = :until${done ? ' AND #total = :until' : ''}`,
        ExpressionAttributeNames: { '#owner': 'owner', '#cursor': 'cursor', ...(done ? { '#total': 'total' } : {}) },
        ExpressionAttributeValues: values,
      })) !== undefined
    );
  }

  async abandon(key: ShardKey, owner: string, from: number, until: number): Promise<boolean> {
    return (
      (await this.conditionalUpdate(key, {
        UpdateExpression: 'SET #cursor = :until ADD inDoubt :skipped',
        ConditionExpression: '#owner = :owner AND #cursor = :from AND claimedUntil = :until',
        ExpressionAttributeNames: { '#owner': 'owner', '#cursor': 'cursor' },
        ExpressionAttributeValues: { ':owner': owner, ':from': from, ':until': until, ':skipped': until - from },
      })) !== undefined
    );
  }

  async extend(key: ShardKey, owner: string, leaseUntilMs: number): Promise<boolean> {
    return (
      (await this.conditionalUpdate(key, {
        UpdateExpression: 'SET leaseUntilMs = :lease',
        ConditionExpression: '#owner = :owner AND done = :false',
        ExpressionAttributeNames: { '#owner': 'owner' },
        ExpressionAttributeValues: { ':owner': owner, ':lease': leaseUntilMs, ':false': false },
      })) !== undefined
    );
  }

  async release(key: ShardKey, owner: string): Promise<void> {
    await this.conditionalUpdate(key, {
      UpdateExpression: 'SET leaseUntilMs = :zero',
      ConditionExpression: '#owner = :owner',
      ExpressionAttributeNames: { '#owner': 'owner' },
      ExpressionAttributeValues: { ':owner': owner, ':zero': 0 },
    });
  }

  /** The item after the update, or undefined when the condition did not hold. */
  private async conditionalUpdate(
    key: ShardKey,
    input: Omit<ConstructorParameters<typeof UpdateCommand>[0], 'TableName' | 'Key'>,
  ): Promise<Record<string, unknown> | undefined> {
    try {
      const output = await this.client.send(
        // Only acquire asks for the item back.
        new UpdateCommand({ TableName: this.tables.Deliveries, Key: { pk: shardKey(key) }, ...input }),
      );
      return output.Attributes ?? {};
    } catch (error) {
      if (isConditionalCheckFailed(error)) return undefined;
      throw translateSdkError(error, 'UpdateItem');
    }
  }
}

function jobKey(messageId: string): string {
  return `job#${messageId}`;
}

function shardKey(key: ShardKey): string {
  return `shard#${key.messageId}#${key.planId}#${key.index}`;
}

function targetsKey(key: ShardKey): string {
  return `targets#${key.messageId}#${key.planId}#${key.index}`;
}

function targetsOf(item: Record<string, unknown> | undefined): ConnectionRef[] {
  // A plan's targets item is written before its job; without it the shard has nothing to post.
  if (!item || typeof item.targets !== 'string') throw new TransientError('the targets of a planned shard were not found');
  return (JSON.parse(item.targets) as [string, string][]).map(([connectionId, userId]) => ({ connectionId, userId }));
}

function toShardState(item: Record<string, unknown>): ShardState {
  return {
    messageId: item.messageId as string,
    planId: item.planId as string,
    index: item.idx as number,
    total: item.total as number,
    cursor: item.cursor as number,
    claimedUntil: item.claimedUntil as number,
    ...(typeof item.owner === 'string' ? { owner: item.owner } : {}),
    leaseUntilMs: item.leaseUntilMs as number,
    done: item.done === true,
    counts: countsFrom(COUNT_NAMES, item),
  };
}
