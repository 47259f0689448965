import { RemovalPolicy } from 'aws-cdk-lib';
import * as dynamodb from 'aws-cdk-lib/aws-dynamodb';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TABLES, type IndexDefinition, type KeyDefinition, type TableId } from '../protocol/tables.js';

/** What a function may do with a table. */
export type TableAccess = 'read' | 'readWrite';

const READ_ACTIONS = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query', 'dynamodb:ConditionCheckItem'];
const WRITE_ACTIONS = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem'];

export interface NotificationTablesProps {
  /**
   * What happens to the tables when they leave the stack.
   * @default RemovalPolicy.RETAIN - the data outlives the stack
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The service's DynamoDB tables, created from `TABLES` (the list DynamoDB Local is created
 * from too): on-demand, TTL, point-in-time recovery, KMS encryption.
 */
export class NotificationTables extends Construct {
  /** Tables by logical id. */
  readonly tables: Readonly<Record<TableId, dynamodb.Table>>;

  constructor(scope: Construct, id: string, props: NotificationTablesProps = {}) {
    super(scope, id);
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    if (removalPolicy !== RemovalPolicy.RETAIN && removalPolicy !== RemovalPolicy.DESTROY) {
      throw new Error(`NotificationTables: removalPolicy ${removalPolicy} is not supported by tables (allowed: retain, destroy)`);
    }
    const tables: Partial<Record<TableId, dynamodb.Table>> = {};
    for (const definition of TABLES) {
      const table = new dynamodb.Table(this, definition.id, {
        partitionKey: attribute(definition.partitionKey),
        sortKey: definition.sortKey ? attribute(definition.sortKey) : undefined,
        billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
        timeToLiveAttribute: definition.timeToLiveAttribute,
        pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
        encryption: dynamodb.TableEncryption.AWS_MANAGED,
        removalPolicy,
        // Retained tables keep deletion protection so a stray delete cannot drop them either.
        deletionProtection: removalPolicy === RemovalPolicy.RETAIN,
      });
      for (const index of definition.globalSecondaryIndexes) table.addGlobalSecondaryIndex(globalIndex(index));
      tables[definition.id] = table;
    }
    this.tables = tables as Record<TableId, dynamodb.Table>;
  }

  /** Environment variables carrying the physical names (`TABLES[].envVar`). */
  get environment(): Record<string, string> {
    return Object.fromEntries(TABLES.map((definition) => [definition.envVar, this.tables[definition.id].tableName]));
  }

  /**
   * Grants item access to one table and its indexes, named one by one: no `index/*`
   * wildcard, no Scan, no table management actions.
   */
  grant(grantee: iam.IGrantable, id: TableId, access: TableAccess): iam.Grant {
    const table = this.tables[id];
    const definition = TABLES.find((candidate) => candidate.id === id);
    if (!definition) throw new Error(`NotificationTables: unknown table ${id} (allowed: ${TABLES.map((t) => t.id).join(', ')})`);
    const indexArns = definition.globalSecondaryIndexes.map((index) => `${table.tableArn}/index/${index.indexName}`);
    return iam.Grant.addToPrincipal({
      grantee,
      actions: access === 'read' ? READ_ACTIONS : [...READ_ACTIONS, ...WRITE_ACTIONS],
      resourceArns: [table.tableArn, ...indexArns],
    });
  }
}

function attribute(key: KeyDefinition): dynamodb.Attribute {
  return { name: key.name, type: key.type === 'S' ? dynamodb.AttributeType.STRING : dynamodb.AttributeType.NUMBER };
}

function globalIndex(index: IndexDefinition): dynamodb.GlobalSecondaryIndexProps {
  const base = {
    indexName: index.indexName,
    partitionKey: attribute(index.partitionKey),
    sortKey: index.sortKey ? attribute(index.sortKey) : undefined,
  };
  switch (index.projection.type) {
    case 'ALL':
      return { ...base, projectionType: dynamodb.ProjectionType.ALL };
    case 'KEYS_ONLY':
      return { ...base, projectionType: dynamodb.ProjectionType.KEYS_ONLY };
    case 'INCLUDE':
      return { ...base, projectionType: dynamodb.ProjectionType.INCLUDE, nonKeyAttributes: [...index.projection.nonKeyAttributes] };
  }
}
