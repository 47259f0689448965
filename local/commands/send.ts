import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import { producerRecord, type ProducerRecord } from '../../lambdas/protocol/records.js';
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
  --url         the runtime (default: http://127.0.0.1:$PORT, PORT defaulting to 8080)`;

export interface SendRequest {
  readonly record: ProducerRecord;
  readonly topic: string;
  readonly url: string;
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
        url: { type: 'string', default: `http://127.0.0.1:${env.PORT ?? 8080}` },
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

  const candidate = {
    messageId: randomUUID(),
    type: 'notification',
    payload: {
      notificationId: randomUUID(),
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
    const optionOf: Record<string, string> = { targetUserId: '--user', actionUrl: '--action-url' };
    return parsed.error.issues
      .map((issue) => {
        const field = String(issue.path.at(-1) ?? 'record');
        return `${optionOf[field] ?? `--${field}`}: ${issue.message}`;
      })
      .join('\n');
  }
  let url: URL;
  try {
    url = new URL(String(values.url));
  } catch {
    return `--url ${String(values.url)}: not a URL`;
  }
  return { record: parsed.data, topic: String(values.topic), url: url.origin };
}

export async function main(argv: string[], output: CommandOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const request = parseSendArguments(argv, env);
  if (typeof request === 'string') {
    output.err(`${request}\n\n${SEND_USAGE}`);
    return EXIT.usage;
  }
  const target = `${request.url}/_local/topics/${encodeURIComponent(request.topic)}`;
  let response: Response;
  try {
    response = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(request.record),
    });
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
  output.out(`published ${request.record.messageId} on ${request.topic}; fan-out summary:`);
  output.out(shown);
  return EXIT.ok;
}

runIfMain(import.meta.url, (argv, output) => main(argv, output));
