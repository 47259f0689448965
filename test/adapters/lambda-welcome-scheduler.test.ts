import { InvokeCommand, LambdaClient, LambdaServiceException, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, describe, expect, it } from 'vitest';
import { LambdaWelcomeScheduler } from '../../lambdas/adapters/lambda/welcome-scheduler.js';
import { ThrottledError, TransientError } from '../../lambdas/domain/errors.js';

const lambda = mockClient(LambdaClient);

describe('LambdaWelcomeScheduler', () => {
  afterEach(() => lambda.reset());

  const scheduler = () =>
    new LambdaWelcomeScheduler({
      client: new LambdaClient({ region: 'us-east-1', endpoint: 'http://127.0.0.1:1' }),
      functionName: 'notifications-Welcome',
    });

  describe('schedule', () => {
    it('invokes the welcome function asynchronously with the connection id', async () => {
      // Prepare
      lambda.on(InvokeCommand).resolves({ StatusCode: 202 });

      // Act
      await scheduler().schedule('conn-1');

      // Assess
      const calls = lambda.commandCalls(InvokeCommand);
      expect(calls).toHaveLength(1);
      const input = calls[0]!.args[0].input;
      expect(input.FunctionName).toBe('notifications-Welcome');
      expect(input.InvocationType).toBe('Event');
      expect(JSON.parse(new TextDecoder().decode(input.Payload as Uint8Array))).toEqual({ connectionId: 'conn-1' });
    });

    it('reports throttling as ThrottledError', async () => {
      lambda.on(InvokeCommand).rejects(new TooManyRequestsException({ $metadata: { httpStatusCode: 429 }, message: 'Rate exceeded' }));

      await expect(scheduler().schedule('conn-1')).rejects.toBeInstanceOf(ThrottledError);
    });

    it('reports a server fault as TransientError', async () => {
      lambda
        .on(InvokeCommand)
        .rejects(new LambdaServiceException({ name: 'ServiceException', $fault: 'server', $metadata: { httpStatusCode: 500 }, message: 'boom' }));

      await expect(scheduler().schedule('conn-1')).rejects.toBeInstanceOf(TransientError);
    });
  });
});
