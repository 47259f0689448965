import type { IncomingMessage, ServerResponse } from 'node:http';
import { FANOUT } from '../../protocol/routes.js';
import { readBody, sendJson } from '../http-messages.js';
import type { LocalFunctions } from '../lambda/functions.js';
import type { MskEventBuilder } from './msk-event.js';

/** `POST /_local/topics/{topic}`. */
export const PRODUCER_PATH = /^\/_local\/topics\/([^/?]+)\/?$/;

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export interface ProducerEndpointOptions {
  readonly functions: LocalFunctions;
  readonly events: MskEventBuilder;
  /** The topics the fan-out's event source mapping consumes (`kafka.topics`). */
  readonly topics: readonly string[];
}

/**
 * Record values from the body: a JSON array holds one value per element (each
 * re-serialised); anything else is one value, kept as sent even when it is not JSON,
 * so malformed records can be produced.
 */
export function recordValues(body: string): string[] {
  try {
    const parsed: unknown = JSON.parse(body);
    if (Array.isArray(parsed)) return parsed.map((value) => JSON.stringify(value));
  } catch {
    // Not JSON: one malformed record, delivered as is.
  }
  return [body];
}

/**
 * Stands in for a Kafka producer and the MSK trigger: the values become one MSK event
 * on the fan-out function, and the answer is the fan-out's return value (its summary).
 */
export async function handleProducerRequest(
  options: ProducerEndpointOptions,
  request: IncomingMessage,
  response: ServerResponse,
  encodedTopic: string,
): Promise<void> {
  if (request.method !== 'POST') {
    sendJson(response, 405, { message: 'POST one record value, or a JSON array of them' });
    return;
  }
  const topic = decodeURIComponent(encodedTopic);
  if (!TOPIC_NAME.test(topic)) {
    sendJson(response, 400, { message: `${topic}: not a Kafka topic name (${TOPIC_NAME.source})` });
    return;
  }
  // The event source mapping only consumes the configured topics; a record on any
  // other topic would never reach the fan-out.
  if (!options.topics.includes(topic)) {
    sendJson(response, 404, {
      message: `${topic}: not consumed by the fan-out; notification_service.kafka.topics is [${options.topics.join(', ')}]`,
    });
    return;
  }
  const query = new URL(request.url ?? '/', 'http://localhost').searchParams;
  const partitionText = query.get('partition') ?? '0';
  if (!/^\d{1,4}$/.test(partitionText)) {
    sendJson(response, 400, { message: `partition=${partitionText}: not a partition number` });
    return;
  }
  const body = (await readBody(request)).toString('utf8');
  if (body === '') {
    sendJson(response, 400, { message: 'empty body: POST one record value, or a JSON array of them' });
    return;
  }
  const values = recordValues(body);
  if (values.length === 0) {
    sendJson(response, 400, { message: 'empty array: Lambda never delivers an empty batch' });
    return;
  }
  const event = options.events.build(topic, Number(partitionText), values, query.get('key') ?? undefined);
  const outcome = await options.functions.invoke(FANOUT.id, event, { route: `kafka:${topic}` });
  if (outcome.ok) sendJson(response, 200, outcome.result ?? null);
  else sendJson(response, 500, outcome.error);
}
