import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { ShardRequest } from '../../domain/fanout/shard-plan.js';
import type { ShardDispatcher } from '../../domain/ports.js';
import { awsCallError } from '../aws-errors.js';

export interface LambdaShardDispatcherProps {
  readonly client: LambdaClient;
  /** Name or ARN of the fan-out worker function. */
  readonly functionName: string;
}

/**
 * Lambda takes at most 256 KB for an asynchronous invocation's payload; this leaves room
 * for the envelope. https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
export const MAX_SHARD_PAYLOAD_BYTES = 240 * 1024;

/**
 * The request as the worker receives it: with the job and the targets when they fit, so
 * that the worker reads neither; without the targets, or without both, when they do not
 * (the worker then reads them from the progress store).
 */
export function shardPayload(request: ShardRequest, limit = MAX_SHARD_PAYLOAD_BYTES): Uint8Array {
  const key = { messageId: request.messageId, planId: request.planId, index: request.index };
  const encoder = new TextEncoder();
  for (const candidate of [request, { ...key, ...(request.job ? { job: request.job } : {}) }]) {
    const bytes = encoder.encode(JSON.stringify(candidate));
    if (bytes.length <= limit) return bytes;
  }
  return encoder.encode(JSON.stringify(key));
}

/**
 * {@link ShardDispatcher} through asynchronous Lambda invocations of the worker
 * function: Lambda queues each one, retries it when it fails, and hands what still
 * fails to the worker's on-failure destination. docs/delivery.md says why this and not
 * an SQS queue of shards.
 */
export class LambdaShardDispatcher implements ShardDispatcher {
  readonly #client: LambdaClient;
  readonly #functionName: string;

  constructor(props: LambdaShardDispatcherProps) {
    this.#client = props.client;
    this.#functionName = props.functionName;
  }

  async dispatch(request: ShardRequest): Promise<void> {
    try {
      await this.#client.send(
        new InvokeCommand({
          FunctionName: this.#functionName,
          InvocationType: 'Event',
          Payload: shardPayload(request),
        }),
      );
    } catch (error) {
      throw awsCallError(error, `Lambda Invoke of the worker for shard ${request.index} of ${request.messageId}`);
    }
  }
}
