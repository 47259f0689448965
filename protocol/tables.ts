/**
 * The DynamoDB tables, as plain data. The CDK construct creates them from this list and
 * the local runtime and the tests create them in DynamoDB Local from the same list, so
 * the two cannot drift. docs/data-model.md explains each key and index.
 */

export type AttributeType = 'S' | 'N';

export interface KeyDefinition {
  readonly name: string;
  readonly type: AttributeType;
}

export interface IndexDefinition {
  readonly indexName: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
  readonly projection: { readonly type: 'ALL' | 'KEYS_ONLY' } | { readonly type: 'INCLUDE'; readonly nonKeyAttributes: readonly string[] };
}

export interface TableDefinition {
  /** Logical id, also the suffix of the physical name. */
  readonly id: TableId;
  /** Environment variable that carries the physical name to the Lambdas. */
  readonly envVar: string;
  readonly partitionKey: KeyDefinition;
  readonly sortKey?: KeyDefinition;
  readonly globalSecondaryIndexes: readonly IndexDefinition[];
  readonly timeToLiveAttribute?: string;
}

export type TableId = 'Connections' | 'Subscriptions' | 'Users' | 'Notifications' | 'Deliveries';

/** Number of partitions of the activity index; spreads cleanup/broadcast/stats reads. */
export const ACTIVITY_SHARDS = 16;

export const CONNECTIONS_BY_USER_INDEX = 'byUser';
export const CONNECTIONS_BY_ACTIVITY_INDEX = 'byActivity';
export const CONNECTIONS_BY_TOKEN_EXPIRY_INDEX = 'byTokenExpiry';

export const TABLES: readonly TableDefinition[] = [
  {
    id: 'Connections',
    envVar: 'CONNECTIONS_TABLE',
    partitionKey: { name: 'connectionId', type: 'S' },
    globalSecondaryIndexes: [
      {
        indexName: CONNECTIONS_BY_USER_INDEX,
        partitionKey: { name: 'userId', type: 'S' },
        sortKey: { name: 'connectionId', type: 'S' },
        projection: { type: 'KEYS_ONLY' },
      },
      {
        indexName: CONNECTIONS_BY_ACTIVITY_INDEX,
        partitionKey: { name: 'shard', type: 'N' },
        sortKey: { name: 'lastSeenAt', type: 'S' },
        projection: { type: 'INCLUDE', nonKeyAttributes: ['userId', 'channels'] },
      },
      {
        // Cleanup's listing of connections whose token has expired. Written on open, on
        // `refresh` and on delete only: heartbeats change nothing it holds.
        indexName: CONNECTIONS_BY_TOKEN_EXPIRY_INDEX,
        partitionKey: { name: 'shard', type: 'N' },
        sortKey: { name: 'tokenExpiresAt', type: 'S' },
        projection: { type: 'INCLUDE', nonKeyAttributes: ['userId'] },
      },
    ],
    timeToLiveAttribute: 'expiresAt',
  },
  {
    id: 'Subscriptions',
    envVar: 'SUBSCRIPTIONS_TABLE',
    partitionKey: { name: 'channel', type: 'S' },
    sortKey: { name: 'connectionId', type: 'S' },
    globalSecondaryIndexes: [],
    timeToLiveAttribute: 'expiresAt',
  },
  {
    id: 'Users',
    envVar: 'USERS_TABLE',
    partitionKey: { name: 'userId', type: 'S' },
    globalSecondaryIndexes: [],
  },
  {
    id: 'Notifications',
    envVar: 'NOTIFICATIONS_TABLE',
    partitionKey: { name: 'pk', type: 'S' },
    sortKey: { name: 'sk', type: 'S' },
    globalSecondaryIndexes: [],
    timeToLiveAttribute: 'expiresAt',
  },
  {
    // Delivery jobs and shard progress of the fan-out (issue 4): `job#{messageId}` and
    // `shard#{messageId}#{planId}#{index}`, each shard its own partition.
    id: 'Deliveries',
    envVar: 'DELIVERIES_TABLE',
    partitionKey: { name: 'pk', type: 'S' },
    globalSecondaryIndexes: [],
    timeToLiveAttribute: 'expiresAt',
  },
];

/** Physical table names for a prefix (a stack's, or a test's), keyed by env var. */
export function tableEnvironment(prefix: string): Record<string, string> {
  return Object.fromEntries(TABLES.map((table) => [table.envVar, `${prefix}${table.id}`]));
}

/** Physical table names, by logical id. */
export type TableNames = Readonly<Record<TableId, string>>;

/** Reads the physical names from the environment; fails naming the missing variable. */
export function tableNamesFromEnvironment(env: Readonly<Record<string, string | undefined>>): TableNames {
  const names: Partial<Record<TableId, string>> = {};
  for (const table of TABLES) {
    const value = env[table.envVar];
    if (!value) throw new Error(`${table.envVar}: missing; it must name the ${table.id} table`);
    names[table.id] = value;
  }
  return names as TableNames;
}
