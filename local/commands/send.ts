import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';
import { producerRecord, type ProducerRecord } from '../../protocol/records.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import { EXIT, runIfMain, type CommandOutput } from './command-line.js';

export const SEND_USAGE = `Usage: npm run send -- --title <text> --message <text> [options]

Publishes one notification record to the local runtime's producer endpoint
(POST /_local/topics/{topic}) and prints the fan-out summary.

  --title       notification title, required
  --message     notification text, required
  --topic       Kafka topic (default: booking-updates)
  --user <id>   deliver to one user's connections
  --channel <c> deliver to a channel's subscribers
  --broadcast   deliver to every connection
                (none of the three: the channel the topic maps to)
  --priority    low | medium | high | urgent (default: medium)
  --action-url  a link for the notification, e.g. /bookings/123
  --notification-id <id>  the payload's notificationId (default: a new UUID). Without
                --message-id the record then carries no messageId: its key is derived
                from the target and this id, so sending it again is a duplicate
  --message-id <uuid>  the record's messageId, its duplicate key (default: a new UUID
                unless --notification-id is given); send again with it to retry
  --url         the runtime (default: http://127.0.0.1:$PORT, PORT defaulting to 8080)
  --server-api  publish through the server API instead (POST {url}/api/publish, or
                POST {server-api-url}/publish), signed with SigV4 from
                AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY [/ AWS_SESSION_TOKEN]: the keys
                npm start printed, or your own when it was started with them set
  --server-api-url <url>  the server API's base URL, e.g. the stack's ServerApiUrl
                (implies --server-api; region from AWS_REGION, default us-east-1)`;

export interface SendRequest {
  readonly record: ProducerRecord;
  readonly topic: string;
  readonly url: string;
  /** The server API's base URL when publishing through it. */
  readonly serverApiUrl?: string;
}

function parseSendArguments(argv: string[], env: NodeJS.ProcessEnv): SendRequest | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        title: { type: 'string' },
        message: { type: 'string' },
        topic: { type: 'string', default: 'booking-updates' },
        user: { type: 'string' },
        channel: { type: 'string' },
        broadcast: { type: 'boolean', default: false },
        priority: { type: 'string', default: 'medium' },
        'action-url': { type: 'string' },
        'notification-id': { type: 'string' },
        'message-id': { type: 'string' },
        url: { type: 'string', default: `http://127.0.0.1:${env.PORT ?? 8080}` },
        'server-api': { type: 'boolean', default: false },
        'server-api-url': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  if (!values.title) return '--title is required';
  if (!values.message) return '--message is required';
  const targets = [values.user !== undefined, values.channel !== undefined, values.broadcast === true].filter(Boolean);
  if (targets.length > 1) return 'at most one of --user, --channel and --broadcast';

  // A fresh messageId only when the notificationId is fresh too: with --notification-id
  // alone, a new messageId per run would make a retry of the same notification a new one.
  const messageId = values['message-id'] ?? (values['notification-id'] === undefined ? randomUUID() : undefined);
  const candidate = {
    ...(messageId !== undefined ? { messageId } : {}),
    type: 'notification',
    payload: {
      notificationId: values['notification-id'] ?? randomUUID(),
      title: values.title,
      message: values.message,
      priority: values.priority,
      ...(values['action-url'] !== undefined ? { actionUrl: values['action-url'] } : {}),
      createdAt: new Date().toISOString(),
    },
    ...(values.user !== undefined ? { targetUserId: values.user } : {}),
    ...(values.channel !== undefined ? { channel: values.channel } : {}),
    ...(values.broadcast === true ? { broadcast: true } : {}),
  };
  const parsed = producerRecord.safeParse(candidate);
  if (!parsed.success) {
    const optionOf: Record<string, string> = {
      targetUserId: '--user',
      actionUrl: '--action-url',
      messageId: '--message-id',
      notificationId: '--notification-id',
    };
    return formatZodIssues(parsed.error, {
      nameOf: (path) => {
        const field = String(path.at(-1) ?? 'record');
        return optionOf[field] ?? `--${field}`;
      },
    }).join('\n');
  }
  let url: URL;
  try {
    url = new URL(String(values.url));
  } catch {
    return `--url ${String(values.url)}: not a URL`;
  }
  let serverApiUrl: string | undefined;
  if (values['server-api-url'] !== undefined) {
    try {
      serverApiUrl = new URL(String(values['server-api-url'])).href.replace(/\/$/, '');
    } catch {
      return `--server-api-url ${String(values['server-api-url'])}: not a URL`;
    }
  } else if (values['server-api'] === true) serverApiUrl = `${url.origin}/api`;
  return { record: parsed.data, topic: String(values.topic), url: url.origin, ...(serverApiUrl ? { serverApiUrl } : {}) };
}

/** The server API request, signed as API Gateway's AWS_IAM expects (service execute-api). */
async function signedPublish(serverApiUrl: string, record: ProducerRecord, env: NodeJS.ProcessEnv): Promise<{ target: string; init: RequestInit } | string> {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey, AWS_SESSION_TOKEN: sessionToken } = env;
  if (!accessKeyId || !secretAccessKey) return '--server-api: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (npm start prints the local ones)';
  const credentials = { accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) };
  return signedRequest({
    url: new URL(`${serverApiUrl}/publish`),
    method: 'POST',
    body: JSON.stringify(record),
    credentials,
    region: env.AWS_REGION ?? 'us-east-1',
    service: 'execute-api',
  });
}

/** A request signed with SigV4 for `service` (execute-api for the server API, s3 for a bucket), ready for fetch. */
export async function signedRequest(options: {
  readonly url: URL;
  readonly method: string;
  readonly body?: string;
  readonly credentials: AwsCredentialIdentity;
  readonly region: string;
  readonly service: string;
}): Promise<{ target: string; init: RequestInit }> {
  const { url: target, body } = options;
  const signer = new SignatureV4({
    credentials: options.credentials,
    region: options.region,
    service: options.service,
    sha256: Hash.bind(null, 'sha256'),
    // S3 signs the path as sent; other services encode it once more.
    uriEscapePath: options.service !== 's3',
  });
  const signed = await signer.sign({
    method: options.method,
    protocol: target.protocol,
    hostname: target.hostname,
    ...(target.port ? { port: Number(target.port) } : {}),
    path: target.pathname,
    query: Object.fromEntries(target.searchParams),
    headers: { host: target.host, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body } : {}),
  });
  const { host: _host, ...headers } = signed.headers;
  return { target: target.href, init: { method: options.method, headers, ...(body !== undefined ? { body } : {}) } };
}

export async function main(argv: string[], output: CommandOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const request = parseSendArguments(argv, env);
  if (typeof request === 'string') {
    output.err(`${request}\n\n${SEND_USAGE}`);
    return EXIT.usage;
  }
  let target = `${request.url}/_local/topics/${encodeURIComponent(request.topic)}`;
  let init: RequestInit = { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(request.record) };
  if (request.serverApiUrl) {
    const signed = await signedPublish(request.serverApiUrl, request.record, env);
    if (typeof signed === 'string') {
      output.err(signed);
      return EXIT.usage;
    }
    ({ target, init } = signed);
  }
  let response: Response;
  try {
    response = await fetch(target, init);
  } catch (error) {
    output.err(`cannot reach ${request.url} (${(error as Error).cause ?? (error as Error).message}); is npm start running?`);
    return EXIT.failed;
  }
  const text = await response.text();
  let shown = text;
  try {
    shown = JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    // Shown as the runtime sent it.
  }
  if (!response.ok) {
    output.err(`${target} answered ${response.status}:\n${shown}`);
    return EXIT.failed;
  }
  const published = request.record.messageId ?? `notification ${request.record.payload.notificationId} (messageId derived from it and the target)`;
  output.out(
    request.serverApiUrl ? `published ${published} through the server API; its answer:` : `published ${published} on ${request.topic}; fan-out summary:`,
  );
  output.out(shown);
  return EXIT.ok;
}

runIfMain(import.meta.url, (argv, output) => main(argv, output));
