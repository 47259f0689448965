import { createHash, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { LOCAL_ACCOUNT } from '../aws-identity.js';
import { readBody, sendJson } from '../http-messages.js';

/** Name of the local on-failure queue (`DEAD_LETTER_QUEUE_URL` = `{httpUrl}/{account}/{name}`). */
export const DEAD_LETTER_QUEUE_NAME = 'notifications-dead-letters';

/** The URL of a local queue, in the form SQS gives them. */
export function localQueueUrl(httpUrl: string, name: string = DEAD_LETTER_QUEUE_NAME): string {
  return `${httpUrl}/${LOCAL_ACCOUNT}/${name}`;
}

/** One message as a local queue keeps it. */
export interface QueuedMessage {
  readonly queueUrl: string;
  readonly messageId: string;
  readonly body: string;
  readonly attributes: Readonly<Record<string, string>>;
  /** ISO; when it was sent. */
  readonly sentAt: string;
}

/** The request is for the SQS API (AWS JSON 1.0 protocol: `X-Amz-Target: AmazonSQS.*`). */
export function isQueueRequest(request: IncomingMessage): boolean {
  return request.method === 'POST' && String(request.headers['x-amz-target'] ?? '').startsWith('AmazonSQS.');
}

interface MessageEntry {
  readonly Id?: string;
  readonly MessageBody?: string;
  readonly MessageAttributes?: Record<string, { StringValue?: string }>;
}

function sendQueueError(response: ServerResponse, status: number, code: string, message: string): void {
  sendJson(
    response,
    status,
    { __type: `com.amazonaws.sqs#${code}`, message },
    {
      'Content-Type': 'application/x-amz-json-1.0',
      'x-amzn-query-error': `AWS.SimpleQueueService.${code};Sender`,
    },
  );
}

function md5(text: string): string {
  return createHash('md5').update(text, 'utf8').digest('hex');
}

/**
 * SendMessage and SendMessageBatch of the SQS API, enough for the unchanged
 * `@aws-sdk/client-sqs` to dead-letter into the runtime; what arrives is kept in
 * `messages` and listed at `GET /_local/dead-letters`. Nothing is ever received or
 * deleted: this is a place to look, not a queue to consume.
 */
export async function handleQueueRequest(messages: QueuedMessage[], request: IncomingMessage, response: ServerResponse): Promise<void> {
  const action = String(request.headers['x-amz-target']).slice('AmazonSQS.'.length);
  let input: { QueueUrl?: string; MessageBody?: string; MessageAttributes?: MessageEntry['MessageAttributes']; Entries?: MessageEntry[] };
  try {
    input = JSON.parse((await readBody(request)).toString('utf8')) as typeof input;
  } catch {
    sendQueueError(response, 400, 'InvalidParameterValue', 'the body is not JSON');
    return;
  }
  if (typeof input.QueueUrl !== 'string') {
    sendQueueError(response, 400, 'MissingParameter', 'QueueUrl is required');
    return;
  }
  const queueUrl = input.QueueUrl;
  const keep = (entry: MessageEntry): QueuedMessage => {
    const message: QueuedMessage = {
      queueUrl,
      messageId: randomUUID(),
      body: entry.MessageBody ?? '',
      attributes: Object.fromEntries(Object.entries(entry.MessageAttributes ?? {}).map(([name, value]) => [name, value.StringValue ?? ''])),
      sentAt: new Date().toISOString(),
    };
    messages.push(message);
    return message;
  };
  switch (action) {
    case 'SendMessage': {
      const message = keep(input);
      sendJson(response, 200, { MessageId: message.messageId, MD5OfMessageBody: md5(message.body) }, { 'Content-Type': 'application/x-amz-json-1.0' });
      return;
    }
    case 'SendMessageBatch': {
      const entries = input.Entries ?? [];
      if (entries.length === 0 || entries.length > 10) {
        sendQueueError(response, 400, 'TooManyEntriesInBatchRequest', 'a batch holds 1 to 10 entries');
        return;
      }
      const successful = entries.map((entry) => {
        const message = keep(entry);
        return { Id: entry.Id, MessageId: message.messageId, MD5OfMessageBody: md5(message.body) };
      });
      sendJson(response, 200, { Successful: successful, Failed: [] }, { 'Content-Type': 'application/x-amz-json-1.0' });
      return;
    }
    default:
      sendQueueError(response, 400, 'UnsupportedOperation', `${action} is not supported by the local runtime (SendMessage, SendMessageBatch)`);
  }
}
