import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { translatingErrors } from './error-translation.js';

/**
 * The pages of a Query, `pageSize` items at most each (undefined: as many as DynamoDB
 * returns, up to 1 MB read), empty pages skipped.
 */
export async function* queryPages(
  client: DynamoDBDocumentClient,
  pageSize: number | undefined,
  input: QueryCommandInput,
): AsyncIterable<Record<string, unknown>[]> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const output = await translatingErrors('Query', () =>
      client.send(new QueryCommand({ ...input, ...(pageSize !== undefined ? { Limit: pageSize } : {}), ExclusiveStartKey: startKey })),
    );
    startKey = output.LastEvaluatedKey;
    if (output.Items && output.Items.length > 0) yield output.Items;
  } while (startKey);
}
