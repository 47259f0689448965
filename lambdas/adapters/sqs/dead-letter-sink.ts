import { SendMessageBatchCommand, type SendMessageBatchRequestEntry, type SQSClient } from '@aws-sdk/client-sqs';
import { NotificationServiceError, TransientError } from '../../domain/errors.js';
import type { DeadLetter } from '../../domain/fanout/dead-letters.js';
import type { DeadLetterSink } from '../../domain/ports.js';
import { awsCallError, type ServiceErrorNames } from '../aws-errors.js';

export interface SqsDeadLetterSinkProps {
  readonly client: SQSClient;
  /** The on-failure queue (`DEAD_LETTER_QUEUE_URL`). */
  readonly queueUrl: string;
}

/** SendMessageBatch takes 10 entries and 256 KiB in all; some room is left for the envelope. */
const ENTRIES_PER_BATCH = 10;
const BYTES_PER_BATCH = 240 * 1024;
/** Rounds of resending the entries SQS refused before giving up (the caller retries later). */
const MAX_ROUNDS = 3;

// SQS's own throttling names beyond the SDK's list (which has RequestThrottled).
const SQS_ERROR_NAMES: ServiceErrorNames = { throttling: ['KmsThrottled'] };

/**
 * {@link DeadLetterSink} on an SQS queue: the same queue the Kafka trigger sets failed
 * batches aside in, so an operator reads everything that was not delivered in one place.
 * Each letter is one message, its body the letter as JSON, with the letter's `kind` as
 * a message attribute for filtering.
 */
export class SqsDeadLetterSink implements DeadLetterSink {
  readonly #client: SQSClient;
  readonly #queueUrl: string;

  constructor(props: SqsDeadLetterSinkProps) {
    this.#client = props.client;
    this.#queueUrl = props.queueUrl;
  }

  async send(letters: readonly DeadLetter[]): Promise<void> {
    for (const batch of batchesOf(letters)) await this.#sendBatch(batch);
  }

  async #sendBatch(entries: SendMessageBatchRequestEntry[]): Promise<void> {
    let pending = entries;
    for (let round = 1; ; round += 1) {
      let failed: { Id?: string; SenderFault?: boolean; Code?: string; Message?: string }[];
      try {
        const output = await this.#client.send(new SendMessageBatchCommand({ QueueUrl: this.#queueUrl, Entries: pending }));
        failed = output.Failed ?? [];
      } catch (error) {
        throw awsCallError(error, 'SQS SendMessageBatch to the dead-letter queue', SQS_ERROR_NAMES);
      }
      if (failed.length === 0) return;
      const senderFault = failed.find((entry) => entry.SenderFault);
      if (senderFault) {
        throw new NotificationServiceError(`the dead-letter queue refused a letter: ${senderFault.Code}: ${senderFault.Message}`);
      }
      const ids = new Set(failed.map((entry) => entry.Id));
      pending = pending.filter((entry) => ids.has(entry.Id));
      if (round >= MAX_ROUNDS) throw new TransientError(`the dead-letter queue did not take ${pending.length} letters after ${MAX_ROUNDS} rounds`);
    }
  }
}

function batchesOf(letters: readonly DeadLetter[]): SendMessageBatchRequestEntry[][] {
  const batches: SendMessageBatchRequestEntry[][] = [];
  let current: SendMessageBatchRequestEntry[] = [];
  let bytes = 0;
  letters.forEach((letter, index) => {
    const body = JSON.stringify(letter);
    const size = Buffer.byteLength(body, 'utf8');
    if (current.length === ENTRIES_PER_BATCH || (current.length > 0 && bytes + size > BYTES_PER_BATCH)) {
      batches.push(current);
      current = [];
      bytes = 0;
    }
    current.push({
      Id: String(index),
      MessageBody: body,
      MessageAttributes: { kind: { DataType: 'String', StringValue: letter.kind } },
    });
    bytes += size;
  });
  if (current.length > 0) batches.push(current);
  return batches;
}
