import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../aws-identity.js';
import { readBody, sendEmpty, sendJson } from '../http-messages.js';
import type { FunctionError, LocalFunctions } from './functions.js';

/** `POST /2015-03-31/functions/{FunctionName}/invocations`, as the Lambda client calls it. */
export const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations\/?$/;

/** An asynchronous invocation that failed: what Lambda would hand to an on-failure destination. */
export interface DeadLetter {
  readonly functionName: string;
  readonly payload: unknown;
  readonly error: FunctionError;
  readonly failedAt: string;
}

export interface InvokeApiOptions {
  readonly functions: LocalFunctions;
  /** An asynchronous invocation failed (Lambda would retry, then give up). */
  readonly onAsyncFailure: (deadLetter: DeadLetter) => void;
  /** Work that outlives the HTTP request (asynchronous invocations). */
  readonly track: (work: Promise<unknown>) => void;
}

function sendServiceError(response: ServerResponse, status: number, errorType: string, message: string): void {
  sendJson(response, status, { Type: 'User', message }, { 'x-amzn-ErrorType': errorType });
}

/**
 * The Lambda Invoke API, so the unchanged `@aws-sdk/client-lambda` InvokeCommand works
 * with `endpoint` set to the runtime's URL. `Event` answers 202 at once and runs the
 * function in the background; `RequestResponse` answers with its result, or with
 * `X-Amz-Function-Error: Unhandled` and the error when it throws; `DryRun` answers 204.
 */
export async function handleInvokeRequest(options: InvokeApiOptions, request: IncomingMessage, response: ServerResponse, encodedName: string): Promise<void> {
  const name = decodeURIComponent(encodedName);
  const definition = options.functions.definition(name);
  if (request.method !== 'POST') {
    sendServiceError(response, 405, 'MethodNotAllowedException', `${request.method} is not supported on invocations`);
    return;
  }
  if (!definition) {
    sendServiceError(response, 404, 'ResourceNotFoundException', `Function not found: arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${name}`);
    return;
  }
  const text = (await readBody(request)).toString('utf8');
  let payload: unknown = {};
  if (text.trim() !== '') {
    try {
      payload = JSON.parse(text);
    } catch {
      sendServiceError(response, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
      return;
    }
  }
  const invocationType = String(request.headers['x-amz-invocation-type'] ?? 'RequestResponse');
  const versionHeader = { 'X-Amz-Executed-Version': '$LATEST' };
  switch (invocationType) {
    case 'DryRun':
      sendEmpty(response, 204, versionHeader);
      return;
    case 'Event': {
      sendEmpty(response, 202);
      const running = options.functions.invoke(definition.id, payload).then((outcome) => {
        if (!outcome.ok) {
          options.onAsyncFailure({ functionName: definition.id, payload, error: outcome.error, failedAt: new Date().toISOString() });
        }
      });
      options.track(running);
      return;
    }
    case 'RequestResponse': {
      const outcome = await options.functions.invoke(definition.id, payload);
      if (outcome.ok) {
        sendJson(response, 200, outcome.result === undefined ? null : outcome.result, versionHeader);
      } else {
        sendJson(response, 200, outcome.error, { ...versionHeader, 'X-Amz-Function-Error': 'Unhandled' });
      }
      return;
    }
    default:
      sendServiceError(response, 400, 'InvalidParameterValueException', `Unsupported invocation type ${invocationType}`);
  }
}
