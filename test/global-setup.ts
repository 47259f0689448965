import type { TestProject } from 'vitest/node';
import { startDynamoDbLocal } from '../local/dynamodb-local.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The DynamoDB every test file of this run talks to; each file makes its own tables. */
    dynamodbEndpoint: string;
  }
}

/**
 * One DynamoDB Local for the whole run (it takes seconds to start); DYNAMODB_ENDPOINT
 * points the run at another DynamoDB instead.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.DYNAMODB_ENDPOINT;
  if (external) {
    project.provide('dynamodbEndpoint', external);
    return async () => {};
  }
  const log: string[] = [];
  const dynamoDb = await startDynamoDbLocal({ onLog: (line) => log.push(line) }).catch((error: unknown) => {
    if (log.length > 0) process.stderr.write(`DynamoDB Local said:\n${log.join('\n')}\n`);
    throw error;
  });
  project.provide('dynamodbEndpoint', dynamoDb.endpoint);
  return () => dynamoDb.stop();
}
