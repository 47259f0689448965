import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  InternalServerError,
  ProvisionedThroughputExceededException,
  ThrottlingException,
} from '@aws-sdk/client-dynamodb';
import { LambdaClient, ResourceNotFoundException, TooManyRequestsException } from '@aws-sdk/client-lambda';
import { GetCommand, DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { KmsThrottled, QueueDoesNotExist, SQSClient } from '@aws-sdk/client-sqs';
import { describe, expect, it } from 'vitest';
import { awsCallError, classifyAwsError, describeAwsError, retryableAwsError, type AwsErrorKind } from '../../lambdas/adapters/aws-errors.js';
import { translateSdkError } from '../../lambdas/adapters/dynamodb/error-translation.js';
import { LambdaShardDispatcher } from '../../lambdas/adapters/lambda/shard-dispatcher.js';
import { LambdaWelcomeScheduler } from '../../lambdas/adapters/lambda/welcome-scheduler.js';
import { SqsDeadLetterSink } from '../../lambdas/adapters/sqs/dead-letter-sink.js';
import { ManagementApiResponseError, ManagementApiTimeoutError } from '../../lambdas/adapters/apigateway/message-sender.js';
import { NotificationServiceError, PostInDoubtError, ThrottledError, TransientError } from '../../lambdas/domain/errors.js';

/**
 * The one classification of failed AWS calls (lambdas/adapters/aws-errors.ts), over the
 * error shapes the adapters meet: the SDK's exceptions as its deserializers build them
 * (name, `$metadata.httpStatusCode`), Node's network errors (`code`), the Management API
 * sender's own answers, and errors that are no AWS answer at all.
 */

const answered = (status: number) => ({ $metadata: { httpStatusCode: status } });
const nodeError = (code: string, message = code) => Object.assign(new Error(message), { code });

const SHAPES: ReadonlyArray<readonly [string, unknown, AwsErrorKind]> = [
  // Throttling: the SDK's names, or HTTP 429 whatever the name.
  ['DynamoDB ThrottlingException (400)', new ThrottlingException({ message: 'Rate exceeded', ...answered(400) }), 'throttling'],
  ['DynamoDB ProvisionedThroughputExceededException (400)', new ProvisionedThroughputExceededException({ message: 'slow', ...answered(400) }), 'throttling'],
  ['Lambda TooManyRequestsException (429)', new TooManyRequestsException({ message: 'Rate exceeded', ...answered(429) }), 'throttling'],
  ['a bare HTTP 429', Object.assign(new Error('busy'), answered(429)), 'throttling'],
  ['Management API LimitExceededException (429)', new ManagementApiResponseError(429, 'LimitExceededException', 'slow down'), 'throttling'],
  ['Management API ThrottlingException (400)', new ManagementApiResponseError(400, 'ThrottlingException', 'slow down'), 'throttling'],
  ['an already translated ThrottledError', new ThrottledError('throttled'), 'throttling'],
  // Transient: 500/502/503/504, timeouts, network failures without an answer.
  ['DynamoDB InternalServerError (500)', new InternalServerError({ message: 'boom', ...answered(500) }), 'transient'],
  ['Management API 503', new ManagementApiResponseError(503, 'ServiceUnavailableException', 'later'), 'transient'],
  ['SDK TimeoutError', Object.assign(new Error('timed out'), { name: 'TimeoutError' }), 'transient'],
  ['ECONNRESET', nodeError('ECONNRESET', 'socket hang up'), 'transient'],
  ['ECONNREFUSED', nodeError('ECONNREFUSED'), 'transient'],
  ['EPIPE', nodeError('EPIPE'), 'transient'],
  ['ETIMEDOUT', nodeError('ETIMEDOUT'), 'transient'],
  ['ENOTFOUND (DNS)', nodeError('ENOTFOUND'), 'transient'],
  ['EAI_AGAIN (DNS)', nodeError('EAI_AGAIN'), 'transient'],
  ['EHOSTUNREACH', nodeError('EHOSTUNREACH'), 'transient'],
  ["the Management API sender's own timeout", new ManagementApiTimeoutError(50), 'transient'],
  ['fetch failed, caused by ECONNREFUSED', new TypeError('fetch failed', { cause: nodeError('ECONNREFUSED') }), 'transient'],
  [
    'a clock skew the SDK corrected',
    Object.assign(new Error('skewed'), { name: 'RequestTimeTooSkewed', $metadata: { httpStatusCode: 403, clockSkewCorrected: true } }),
    'transient',
  ],
  ['an already translated TransientError', new TransientError('later'), 'transient'],
  // Server: any other 5xx.
  ['HTTP 501', Object.assign(new Error('not implemented'), { name: 'NotImplemented', ...answered(501) }), 'server'],
  // Refused: any other answer.
  ['DynamoDB ConditionalCheckFailedException (400)', new ConditionalCheckFailedException({ message: 'no', ...answered(400) }), 'refused'],
  ['Lambda ResourceNotFoundException (404)', new ResourceNotFoundException({ message: 'no such function', ...answered(404) }), 'refused'],
  ['SQS QueueDoesNotExist (400)', new QueueDoesNotExist({ message: 'no queue', ...answered(400) }), 'refused'],
  ['Management API ForbiddenException (403)', new ManagementApiResponseError(403, 'ForbiddenException', 'no'), 'refused'],
  ['a clock skew the SDK did not correct', Object.assign(new Error('skewed'), { name: 'RequestTimeTooSkewed', ...answered(403) }), 'refused'],
  // Unknown: no answer and no known network failure.
  ['a TypeError (a bug)', new TypeError('x is not a function'), 'unknown'],
  ['an aborted request', Object.assign(new Error('aborted'), { name: 'AbortError', code: 'ECONNRESET' }), 'unknown'],
  ['a thrown string', 'boom', 'unknown'],
  ['undefined', undefined, 'unknown'],
  ['a post in doubt (never retried)', new PostInDoubtError('c1'), 'unknown'],
];

describe('classifyAwsError', () => {
  it.each(SHAPES)('reads %s', (_label, error, kind) => {
    expect(classifyAwsError(error)).toBe(kind);
  });

  it("adds a service's own names to the SDK's lists", () => {
    const kmsThrottled = new KmsThrottled({ message: 'KMS is busy', ...answered(400) });
    const conflict = Object.assign(new Error('lost'), { name: 'TransactionConflictException', ...answered(400) });

    expect(classifyAwsError(kmsThrottled)).toBe('refused');
    expect(classifyAwsError(kmsThrottled, { throttling: ['KmsThrottled'] })).toBe('throttling');
    expect(classifyAwsError(conflict, { transient: ['TransactionConflictException'] })).toBe('transient');
  });
});

describe('retryableAwsError and awsCallError', () => {
  it('turn throttling into ThrottledError and transient and server faults into TransientError, keeping the cause', () => {
    const throttled = new TooManyRequestsException({ message: 'Rate exceeded', ...answered(429) });
    const failed = new InternalServerError({ message: 'boom', ...answered(500) });

    const asThrottled = retryableAwsError(throttled, 'Lambda Invoke');
    const asTransient = awsCallError(failed, 'DynamoDB GetItem');

    expect(asThrottled).toBeInstanceOf(ThrottledError);
    expect(asThrottled?.cause).toBe(throttled);
    expect(asThrottled?.message).toBe('Lambda Invoke was throttled (TooManyRequestsException (HTTP 429))');
    expect(asTransient).toBeInstanceOf(TransientError);
    expect(asTransient.cause).toBe(failed);
  });

  it('leave refusals and unknown errors out of retries', () => {
    const missing = new ResourceNotFoundException({ message: 'no such function', ...answered(404) });

    expect(retryableAwsError(missing, 'Lambda Invoke')).toBeUndefined();
    const refused = awsCallError(missing, 'Lambda Invoke');
    expect(refused).toBeInstanceOf(NotificationServiceError);
    expect(refused).not.toBeInstanceOf(TransientError);
    expect(refused.message).toBe('Lambda Invoke was refused: ResourceNotFoundException (HTTP 404)');
    expect(awsCallError(new TypeError('x is not a function'), 'Lambda Invoke')).not.toBeInstanceOf(TransientError);
  });

  it('return a domain error as it is', () => {
    const inDoubt = new PostInDoubtError('c1');
    const transient = new TransientError('later');

    expect(awsCallError(inDoubt, 'x')).toBe(inDoubt);
    expect(retryableAwsError(transient, 'x')).toBe(transient);
  });
});

describe('describeAwsError', () => {
  it.each([
    [new ThrottlingException({ message: 'Rate exceeded', ...answered(400) }), 'ThrottlingException (HTTP 400)'],
    [nodeError('ECONNRESET', 'socket hang up'), 'ECONNRESET: socket hang up'],
    [new TypeError('x is not a function'), 'TypeError: x is not a function'],
    ['boom', 'boom'],
  ])('names %s', (error, description) => {
    expect(describeAwsError(error)).toBe(description);
  });
});

/**
 * The adapters over real SDK clients whose endpoint refuses connections (a closed port on
 * loopback): a network failure without an answer. They used to disagree (the welcome
 * scheduler called it permanent, the shard dispatcher transient); all say transient now.
 */
describe('every adapter reads an unreachable endpoint as TransientError', () => {
  const unreachable = { region: 'us-east-1', endpoint: 'http://127.0.0.1:1', maxAttempts: 1, credentials: { accessKeyId: 'x', secretAccessKey: 'x' } };

  it('LambdaWelcomeScheduler', async () => {
    const scheduler = new LambdaWelcomeScheduler({ client: new LambdaClient(unreachable), functionName: 'welcome' });

    await expect(scheduler.schedule('c1')).rejects.toBeInstanceOf(TransientError);
  });

  it('LambdaShardDispatcher', async () => {
    const dispatcher = new LambdaShardDispatcher({ client: new LambdaClient(unreachable), functionName: 'worker' });

    await expect(dispatcher.dispatch({ messageId: 'm1', planId: 'p1', index: 0 })).rejects.toBeInstanceOf(TransientError);
  });

  it('SqsDeadLetterSink', async () => {
    const sink = new SqsDeadLetterSink({ client: new SQSClient(unreachable), queueUrl: 'http://127.0.0.1:1/000000000000/dlq' });

    await expect(
      sink.send([{ kind: 'record', topic: 'notifications', partition: 0, offset: 1, reason: 'not JSON', at: '2026-01-01T00:00:00.000Z' }]),
    ).rejects.toBeInstanceOf(TransientError);
  });

  it('the DynamoDB translation', async () => {
    const client = DynamoDBDocumentClient.from(new DynamoDBClient(unreachable));
    const failure = await client.send(new GetCommand({ TableName: 't', Key: { id: '1' } })).catch((error: unknown) => error);

    expect(translateSdkError(failure, 'GetItem')).toBeInstanceOf(TransientError);
  });
});
