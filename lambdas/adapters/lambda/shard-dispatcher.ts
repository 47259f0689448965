import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import { NotificationServiceError, ThrottledError, TransientError } from '../../domain/errors.js';
import type { ShardRequest } from '../../domain/fanout/shard-plan.js';
import type { ShardDispatcher } from '../../domain/ports.js';

export interface LambdaShardDispatcherProps {
  readonly client: LambdaClient;
  /** Name or ARN of the fan-out worker function. */
  readonly functionName: string;
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
    const payload: ShardRequest = { messageId: request.messageId, planId: request.planId, index: request.index };
    try {
      await this.#client.send(
        new InvokeCommand({
          FunctionName: this.#functionName,
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(payload)),
        }),
      );
    } catch (error) {
      const shape = (typeof error === 'object' && error !== null ? error : {}) as { name?: string; $metadata?: { httpStatusCode?: number } };
      const status = shape.$metadata?.httpStatusCode;
      const what = `shard ${request.index} of ${request.messageId}`;
      if (status === 429 || shape.name === 'TooManyRequestsException') {
        throw new ThrottledError(`Lambda throttled the worker for ${what}`, { cause: error });
      }
      if (status === undefined || status >= 500) {
        throw new TransientError(`Lambda could not queue the worker for ${what} (${shape.name ?? status ?? 'no answer'})`, { cause: error });
      }
      throw new NotificationServiceError(`cannot invoke the worker for ${what}: ${shape.name ?? String(error)}`, { cause: error });
    }
  }
}
