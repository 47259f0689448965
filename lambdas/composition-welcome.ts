import { LambdaClient } from '@aws-sdk/client-lambda';
import { LambdaWelcomeScheduler } from './adapters/lambda/welcome-scheduler.js';
import { provideParts } from './composition.js';
import { required } from './config/environment.js';

/**
 * The welcome scheduler (asynchronous invocations of the welcome function), imported by
 * the functions that register connections: only they load the Lambda client.
 */
provideParts({
  welcome: ({ services: { env } }) =>
    new LambdaWelcomeScheduler({
      client: new LambdaClient(env.LAMBDA_ENDPOINT ? { endpoint: env.LAMBDA_ENDPOINT } : {}),
      functionName: required(env, 'WELCOME_FUNCTION_NAME'),
    }),
});
