import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda';
import type { WelcomeScheduler } from '../../domain/ports.js';
import { awsCallError } from '../aws-errors.js';

export interface LambdaWelcomeSchedulerProps {
  readonly client: LambdaClient;
  /** Name or ARN of the welcome function. */
  readonly functionName: string;
}

/** The event the welcome function receives. */
export interface WelcomeInvocation {
  readonly connectionId: string;
}

/**
 * {@link WelcomeScheduler} through an asynchronous Lambda invocation: API Gateway
 * cannot send during `$connect`, so `$connect` hands the welcome to a function that
 * runs after it has returned (and that Lambda retries if it fails).
 */
export class LambdaWelcomeScheduler implements WelcomeScheduler {
  readonly #client: LambdaClient;
  readonly #functionName: string;

  constructor(props: LambdaWelcomeSchedulerProps) {
    this.#client = props.client;
    this.#functionName = props.functionName;
  }

  async schedule(connectionId: string): Promise<void> {
    const event: WelcomeInvocation = { connectionId };
    try {
      await this.#client.send(
        new InvokeCommand({
          FunctionName: this.#functionName,
          // 'Event': queued by Lambda and answered with 202 at once; $connect does not wait.
          InvocationType: 'Event',
          Payload: new TextEncoder().encode(JSON.stringify(event)),
        }),
      );
    } catch (error) {
      throw awsCallError(error, `Lambda Invoke of the welcome for connection ${connectionId}`);
    }
  }
}
