import { LambdaClient } from '@aws-sdk/client-lambda';
import { LambdaWelcomeScheduler } from './adapters/lambda/welcome-scheduler.js';
import { createConnectionService } from './application.js';
import { derivedOnce, lazy } from './composition-base.js';
import { getServices, type Services } from './composition.js';
import { required } from './config/environment.js';
import type { ConnectionService } from './domain/connection-service.js';
import type { WelcomeScheduler } from './domain/ports.js';

/**
 * What the `$connect` handler needs: registering a connection, which schedules its
 * welcome (an asynchronous invocation of the Welcome function). Only the functions that
 * import this module load the Lambda client.
 */
export interface ConnectParts {
  readonly services: Services;
  /** Registers connections under the per-user limit and schedules their welcome. */
  readonly connections: Pick<ConnectionService, 'connect'>;
}

/** Invokes the Welcome function (WELCOME_FUNCTION_NAME) asynchronously for each new connection. */
export function createWelcomeScheduler({ env }: Services): WelcomeScheduler {
  return new LambdaWelcomeScheduler({
    client: new LambdaClient(env.LAMBDA_ENDPOINT ? { endpoint: env.LAMBDA_ENDPOINT } : {}),
    functionName: required(env, 'WELCOME_FUNCTION_NAME'),
  });
}

/** `$connect`'s parts over `services`, built on first use. */
export function composeConnect(services: Services): ConnectParts {
  const scheduler = lazy(() => createWelcomeScheduler(services));
  // Built on the first welcome: a scheduler that cannot be built (no WELCOME_FUNCTION_NAME)
  // fails that welcome, logged, and not the connection (see ConnectionService.connect).
  const connections = lazy(() => createConnectionService(services, { schedule: (connectionId) => scheduler().schedule(connectionId) }));
  return {
    services,
    get connections() {
      return connections();
    },
  };
}

const connectPartsOf = derivedOnce(composeConnect);

/** `$connect`'s parts of this container, over {@link getServices} (once per cold start). */
export function getConnectParts(): ConnectParts {
  return connectPartsOf(getServices());
}
