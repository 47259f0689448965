import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from './tables.js';

/** What every DynamoDB adapter is built from (once per cold start, in lambdas/composition.ts). */
export interface DynamoDbStoreProps {
  readonly client: DynamoDBDocumentClient;
  readonly tables: TableNames;
  /**
   * Items per Query page when listing, so that a caller working page by page (fan-out,
   * cleanup) holds a bounded number in memory.
   * @default 1000
   */
  readonly pageSize?: number;
}

export const DEFAULT_PAGE_SIZE = 1000;
