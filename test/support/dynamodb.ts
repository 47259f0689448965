import { randomBytes } from 'node:crypto';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { inject } from 'vitest';
import { createTables } from '../../local/dynamodb-local.js';
import { tableEnvironment, type TableNames } from '../../protocol/tables.js';

export interface TestTables {
  /** The run's DynamoDB endpoint (test/global-setup.ts). */
  readonly endpoint: string;
  readonly tables: TableNames;
  /** Table names, DYNAMODB_ENDPOINT and dummy AWS credentials, as a Lambda would see them. */
  readonly env: Record<string, string>;
  readonly client: DynamoDBDocumentClient;
}

/** DynamoDB Local accepts any credentials; the SDK only insists that some exist. */
const LOCAL_AWS_ENVIRONMENT = {
  AWS_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'local',
  AWS_SECRET_ACCESS_KEY: 'local',
} as const;

/**
 * A fresh set of tables, under a random prefix, in the run's DynamoDB: test files run in
 * parallel and never see each other's data.
 */
export async function createTestTables(): Promise<TestTables> {
  Object.assign(process.env, LOCAL_AWS_ENVIRONMENT);
  const endpoint = inject('dynamodbEndpoint');
  const prefix = `t${randomBytes(5).toString('hex')}-`;
  const client = new DynamoDBClient({ endpoint, region: LOCAL_AWS_ENVIRONMENT.AWS_REGION });
  const tables = await createTables(client, prefix);
  return {
    endpoint,
    tables,
    env: { ...tableEnvironment(prefix), DYNAMODB_ENDPOINT: endpoint, ...LOCAL_AWS_ENVIRONMENT },
    client: DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } }),
  };
}
