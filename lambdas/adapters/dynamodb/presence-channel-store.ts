import { DeleteCommand, GetCommand, UpdateCommand, type DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { TransientError } from '../../domain/errors.js';
import type { ConnectionRef } from '../../domain/model.js';
import type { ChannelMember, ChannelMembers, MemberChange, PresenceChannelStore } from '../../domain/ports.js';
import { isConditionalCheckFailed, translateSdkError, translatingErrors } from './error-translation.js';
import { queryPages } from './query-pages.js';
import type { DynamoDbStoreProps } from './store-props.js';
import type { TableNames } from '../../../protocol/tables.js';

/** Partition of a presence channel's members in the Subscriptions table: `#` never appears in a channel name. */
export const presencePartition = (channel: string): string => `presence#${channel}`;
/** Sort key of the channel's member counter; a user id never starts with `#`. */
export const MEMBER_COUNT_KEY = '#count';
/** Rounds of join's two conditional writes before giving up: each lost round means another call changed the entry. */
const JOIN_ROUNDS = 5;

/**
 * Members of presence channels in the Subscriptions table (docs/data-model.md): one item
 * per member, `channel = presence#{channel}`, `connectionId = {userId}`, holding the
 * set of the user's connection ids in the channel and `joinedAt`; and one counter item
 * (`#count`). Every change is a conditional update of the one member item, so the item
 * decides which call is the transition; no scan, no read of a channel's subscribers.
 */
export class DynamoDbPresenceChannelStore implements PresenceChannelStore {
  private readonly client: DynamoDBDocumentClient;
  private readonly tables: TableNames;

  constructor(props: DynamoDbStoreProps) {
    this.client = props.client;
    this.tables = props.tables;
  }

  async join(channel: string, ref: ConnectionRef, at: string): Promise<MemberChange> {
    const Key = { channel: presencePartition(channel), connectionId: ref.userId };
    for (let round = 0; round < JOIN_ROUNDS; round++) {
      // Usually the user is already in (another tab): one write, no transition.
      if (
        await this.conditionally(() =>
          this.client.send(
            new UpdateCommand({
              TableName: this.tables.Subscriptions,
              Key,
              UpdateExpression: 'ADD connectionIds :ids',
              ConditionExpression: 'attribute_exists(connectionIds)',
              ExpressionAttributeValues: { ':ids': new Set([ref.connectionId]) },
            }),
          ),
        )
      )
        return { transition: false };
      // Not in (no item, or one emptied by a leave whose delete has not run yet): enter.
      if (
        await this.conditionally(() =>
          this.client.send(
            new UpdateCommand({
              TableName: this.tables.Subscriptions,
              Key,
              UpdateExpression: 'SET joinedAt = :at, userId = :user ADD connectionIds :ids',
              ConditionExpression: 'attribute_not_exists(connectionIds)',
              ExpressionAttributeValues: { ':ids': new Set([ref.connectionId]), ':at': at, ':user': ref.userId },
            }),
          ),
        )
      )
        return { transition: true, count: await this.addToCount(channel, 1) };
      // A concurrent join entered between the two writes: the first one now holds.
    }
    throw new TransientError(`presence join of ${ref.userId} in ${channel} kept losing to concurrent changes`);
  }

  async leave(channel: string, ref: ConnectionRef): Promise<MemberChange> {
    const Key = { channel: presencePartition(channel), connectionId: ref.userId };
    let after: Record<string, unknown> | undefined;
    try {
      const output = await this.client.send(
        new UpdateCommand({
          TableName: this.tables.Subscriptions,
          Key,
          UpdateExpression: 'DELETE connectionIds :ids',
          ConditionExpression: 'contains(connectionIds, :id)',
          ExpressionAttributeValues: { ':ids': new Set([ref.connectionId]), ':id': ref.connectionId },
          ReturnValues: 'ALL_NEW',
        }),
      );
      after = output.Attributes;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return { transition: false }; // not (or no longer) in: nothing to leave
      throw translateSdkError(error, 'UpdateItem');
    }
    // DynamoDB drops an emptied set: the user's last connection left.
    if (after?.connectionIds !== undefined) return { transition: false };
    // A join that came in meanwhile keeps the item (and has reported its own join).
    await this.conditionally(() =>
      this.client.send(new DeleteCommand({ TableName: this.tables.Subscriptions, Key, ConditionExpression: 'attribute_not_exists(connectionIds)' })),
    );
    return { transition: true, count: await this.addToCount(channel, -1) };
  }

  async members(channel: string, limit: number): Promise<ChannelMembers> {
    const counter = await translatingErrors('GetItem', () =>
      this.client.send(
        new GetCommand({
          TableName: this.tables.Subscriptions,
          Key: { channel: presencePartition(channel), connectionId: MEMBER_COUNT_KEY },
          ConsistentRead: true,
        }),
      ),
    );
    const stored = counter.Item?.members as number | undefined;
    const counted = Math.max(0, Number(stored ?? 0));
    // The member items are the truth, read up to one past the cap (a bounded read, however
    // large the channel): the counter alone could be off by the transitions cut between
    // their two writes (docs/data-model.md, "Can #count drift").
    const members: ChannelMember[] = [];
    for await (const page of queryPages(this.client, limit + 2, {
      TableName: this.tables.Subscriptions,
      KeyConditionExpression: 'channel = :channel',
      ExpressionAttributeValues: { ':channel': presencePartition(channel) },
      ConsistentRead: true,
    })) {
      for (const item of page) {
        const ids = item.connectionIds as Set<string> | undefined;
        if (item.connectionId === MEMBER_COUNT_KEY || !ids || ids.size === 0) continue;
        members.push({ userId: item.connectionId as string, connections: ids.size, joinedAt: item.joinedAt as string });
      }
      if (members.length > limit) break;
    }
    if (members.length > limit) return { count: Math.max(counted, members.length), members: [], truncated: true };
    // Every member listed: heal a counter that drifted, unless a transition moved it meanwhile.
    if (members.length !== counted) await this.healCount(channel, stored, members.length);
    return { count: members.length, members, truncated: false };
  }

  /** Sets the counter to `truth` if it still holds `seen` (undefined: no counter item). */
  private async healCount(channel: string, seen: number | undefined, truth: number): Promise<void> {
    await this.conditionally(() =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tables.Subscriptions,
          Key: { channel: presencePartition(channel), connectionId: MEMBER_COUNT_KEY },
          UpdateExpression: 'SET members = :truth',
          ...(seen === undefined
            ? { ConditionExpression: 'attribute_not_exists(members)', ExpressionAttributeValues: { ':truth': truth } }
            : { ConditionExpression: 'members = :seen', ExpressionAttributeValues: { ':truth': truth, ':seen': seen } }),
        }),
      ),
    );
  }

  private async addToCount(channel: string, delta: 1 | -1): Promise<number> {
    const output = await translatingErrors('UpdateItem', () =>
      this.client.send(
        new UpdateCommand({
          TableName: this.tables.Subscriptions,
          Key: { channel: presencePartition(channel), connectionId: MEMBER_COUNT_KEY },
          UpdateExpression: 'ADD members :delta',
          ExpressionAttributeValues: { ':delta': delta },
          ReturnValues: 'UPDATED_NEW',
        }),
      ),
    );
    return Math.max(0, Number(output.Attributes?.members ?? 0));
  }

  /** Runs a conditional write: true when it held, false when its condition did not. */
  private async conditionally(write: () => Promise<unknown>): Promise<boolean> {
    try {
      await write();
      return true;
    } catch (error) {
      if (isConditionalCheckFailed(error)) return false;
      throw translateSdkError(error, 'UpdateItem');
    }
  }
}
