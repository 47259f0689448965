import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import type { TableNames } from '../../../protocol/tables.js';

/** What every DynamoDB adapter is built from (once per cold start, in lambdas/composition.ts). */
export interface DynamoDbStoreProps {
  readonly client: DynamoDBDocumentClient;
  readonly tables: TableNames;
  /**
   * Items per Query page when listing, so that a caller working page by page (cleanup)
   * holds a bounded number in memory.
   * @default 1000; the fan-out's audience listings (a channel's subscribers, every
   *   connection) default to DynamoDB's own pages of up to 1 MB: a request per 1 MB
   *   rather than per 1,000 items.
   */
  readonly pageSize?: number;
}

export const DEFAULT_PAGE_SIZE = 1000;
