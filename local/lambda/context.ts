import { randomBytes, randomUUID } from 'node:crypto';
import type { Context } from 'aws-lambda';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../aws-identity.js';

export interface LambdaContextOptions {
  readonly functionName: string;
  readonly timeoutMs: number;
  /** @default '256' */
  readonly memoryLimitInMB?: string;
  /** @default - a new UUID; a handler worker thread is given the id its invocation already has */
  readonly awsRequestId?: string;
}

function logStreamName(now: Date): string {
  const day = now.toISOString().slice(0, 10).replaceAll('-', '/');
  return `${day}/[$LATEST]${randomBytes(16).toString('hex')}`;
}

/**
 * The `Context` Lambda hands to a handler, for one invocation. The deprecated
 * done/fail/succeed exist only so the type is complete; handlers of this service
 * return promises.
 */
export function createLambdaContext(options: LambdaContextOptions): Context {
  const startedAt = Date.now();
  const deadline = startedAt + options.timeoutMs;
  const unsupported = (name: string) => () => {
    throw new Error(`context.${name}() is not supported by the local runtime; return a promise instead`);
  };
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: options.functionName,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${options.functionName}`,
    memoryLimitInMB: options.memoryLimitInMB ?? '256',
    awsRequestId: options.awsRequestId ?? randomUUID(),
    logGroupName: `/aws/lambda/${options.functionName}`,
    logStreamName: logStreamName(new Date(startedAt)),
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
    done: unsupported('done'),
    fail: unsupported('fail'),
    succeed: unsupported('succeed'),
  };
}
