import type { IncomingMessage, ServerResponse } from 'node:http';
import { FANOUT } from '../../protocol/routes.js';
import { LOCAL_ACCOUNT, LOCAL_REGION } from '../aws-identity.js';
import { readBody, sendJson } from '../http-messages.js';
import type { LocalFunctions } from '../lambda/functions.js';
import { LOCAL_RETRY_DELAY_MS, runEventSourceMapping, type MappingRun } from './event-source-mapping.js';
import type { MskEventBuilder } from './msk-event.js';
import type { KafkaFailureRecord } from './parked-records.js';

/** `POST /_local/topics/{topic}`. */
export const PRODUCER_PATH = /^\/_local\/topics\/([^/?]+)\/?$/;

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

export interface ProducerEndpointOptions {
  readonly functions: LocalFunctions;
  readonly events: MskEventBuilder;
  /** The topics the fan-out's event source mapping consumes (`kafka.topics`). */
  readonly topics: readonly string[];
  /** Retries of a failing batch before it is parked (`deployment.kafka.retry_attempts`). */
  readonly retryAttempts: number;
  /** Split a batch that failed as a whole in two before retrying (lib/kafka-trigger.ts's `bisectBatchOnError`). */
  readonly bisectBatchOnError: boolean;
  /** @default LOCAL_RETRY_DELAY_MS - 50 ms doubling, at most 400 ms */
  readonly retryDelayMs?: (retry: number) => number;
  /** The on-failure destination's stand-in: keeps the invocation record of a discarded batch. */
  readonly park: (record: KafkaFailureRecord) => void;
  /** One run at a time per partition, as a Kafka consumer reads it. */
  readonly partitions: PartitionLanes;
}

/** Runs work one at a time per key, in the order it was asked for. */
export class PartitionLanes {
  readonly #tails = new Map<string, Promise<unknown>>();

  run<T>(key: string, work: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key) ?? Promise.resolve();
    const next = previous.then(work, work);
    const tail = next.catch(() => {});
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return next;
  }
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
 * on the fan-out function. When it succeeds the answer is the fan-out's return value (its
 * summary); when it fails, the event source mapping's handling is played
 * ({@link runEventSourceMapping}: retries from the failed record, bisecting, then the
 * on-failure destination) and the answer says what became of each invocation: 200 when
 * every record was delivered in the end, 500 with the last error and the parked offsets
 * when some were parked.
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
  const partition = Number(partitionText);
  const key = query.get('key') ?? undefined;
  const run = await options.partitions.run(`${topic}-${partition}`, () =>
    runEventSourceMapping(options.events.build(topic, partition, values, key), {
      retryAttempts: options.retryAttempts,
      bisectBatchOnError: options.bisectBatchOnError,
      retryDelayMs: options.retryDelayMs ?? LOCAL_RETRY_DELAY_MS,
      invoke: (event) => options.functions.invoke(FANOUT.id, event, { route: `kafka:${topic}` }),
      discard: options.park,
      functionArn: `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:${FANOUT.id}`,
    }),
  );
  const [status, answer] = answerOf(run, `${topic}-${partition}`, options.retryAttempts);
  sendJson(response, status, answer);
}

function answerOf(run: MappingRun, partitionKey: string, retryAttempts: number): [number, unknown] {
  const [first] = run.invocations;
  // One invocation that succeeded: the fan-out's summary, as it was before retries existed.
  if (run.invocations.length === 1 && first?.outcome === 'ok') return [200, run.firstResult ?? null];
  if (run.parked.length === 0) return [200, { invocations: run.invocations, parked: [] }];
  const error = run.lastError ?? {
    errorType: 'RetryAttemptsExhausted',
    errorMessage: `${partitionKey}: offsets ${run.parked.join(', ')} still failed after ${retryAttempts} retries; parked (GET /_local/parked)`,
  };
  return [500, { ...error, invocations: run.invocations, parked: run.parked }];
}
