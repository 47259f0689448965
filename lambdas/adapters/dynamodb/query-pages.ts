import { QueryCommand, type DynamoDBDocumentClient, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { translatingErrors } from './error-translation.js';

/** The pages of a Query, `pageSize` items at most each, empty pages skipped. */
export async function* queryPages(
  client: DynamoDBDocumentClient,
  pageSize: number,
  input: QueryCommandInput,
): AsyncIterable<Record<string, unknown>[]> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const output = await translatingErrors('Query', () =>
      client.send(new QueryCommand({ ...input, Limit: pageSize, ExclusiveStartKey: startKey })),
    );
    startKey = output.LastEvaluatedKey;
    if (output.Items && output.Items.length > 0) yield output.Items;
  } while (startKey);
}
