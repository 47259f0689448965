import * as z from '../../../protocol/zod-mini.js';
import { formatZodIssues } from '../../../protocol/zod-issues.js';
import { NotificationServiceError } from '../../domain/errors.js';
import type { RecordPosition, SourceRecord, UnreadableRecord } from '../../domain/fanout/source-record.js';
import { producerRecord } from '../../../protocol/records.js';

/** One Kafka record of an MSK (or self-managed Kafka) event, key and value decoded to text. */
export interface KafkaMessage extends RecordPosition {
  /** Milliseconds since the epoch (CREATE_TIME or LOG_APPEND_TIME). */
  readonly timestamp: number;
  readonly value: string;
  readonly key?: string;
}

/** The event is not shaped like an MSK event at all (as opposed to one bad record in it). */
export class InvalidKafkaEventError extends NotificationServiceError {}

const base64Text = z.pipe(
  z.string(),
  z.transform((encoded) => Buffer.from(encoded, 'base64').toString()),
);

// Powertools parser's `KafkaRecordSchema` (base64 key and value decoded), written with
// zod/mini: Powertools' schemas are built on the classic zod namespace, which would put
// all of zod in the fan-out's bundle. Headers are optional and left encoded: the
// fan-out never reads them, so their absence must not make a record undeliverable.
const kafkaRecord = z.object({
  topic: z.string(),
  partition: z.number(),
  offset: z.number(),
  timestamp: z.number(),
  timestampType: z.string(),
  key: z.optional(base64Text),
  value: base64Text,
  headers: z.optional(z.array(z.record(z.string(), z.array(z.number())))),
});

const kafkaEventEnvelope = z.object({
  records: z.record(z.string(), z.array(z.unknown())),
});

/**
 * Decodes every record of an MSK event, in partition order: the `topic-partition`
 * groups as the event lists them, each ordered by offset. A record that is not a
 * Kafka record (no value, a bad offset, ...) comes back with its reason instead.
 * @throws InvalidKafkaEventError when the event has no `records` map.
 */
export function decodeMskEvent(event: unknown): Array<KafkaMessage | UnreadableRecord> {
  const envelope = kafkaEventEnvelope.safeParse(event);
  if (!envelope.success) {
    throw new InvalidKafkaEventError(`not an MSK event: ${describeIssues(envelope.error)}`, { cause: envelope.error });
  }
  const decoded: Array<KafkaMessage | UnreadableRecord> = [];
  for (const [groupKey, group] of Object.entries(envelope.data.records)) {
    const inGroup: Array<KafkaMessage | UnreadableRecord> = [];
    group.forEach((raw, index) => {
      const result = kafkaRecord.safeParse(raw);
      if (result.success) {
        const { topic, partition, offset, timestamp, value, key } = result.data;
        inGroup.push({ topic, partition, offset, timestamp, value, ...(key !== undefined && key !== '' ? { key } : {}) });
      } else {
        inGroup.push({ ...positionOfUnreadable(groupKey, raw, index), reason: `not a Kafka record: ${describeIssues(result.error)}` });
      }
    });
    decoded.push(...inGroup.sort((a, b) => a.offset - b.offset));
  }
  return decoded;
}

/** Reads one record value as a producer record (protocol section 6); never throws. */
export function readProducerRecord(message: KafkaMessage | UnreadableRecord): SourceRecord {
  const position = { topic: message.topic, partition: message.partition, offset: message.offset };
  if ('reason' in message) return { ...position, reason: message.reason };
  let value: unknown;
  try {
    value = JSON.parse(message.value);
  } catch (error) {
    return { ...position, reason: `value is not JSON: ${(error as Error).message}` };
  }
  const result = producerRecord.safeParse(value);
  if (!result.success) return { ...position, reason: `value is not a producer record: ${describeIssues(result.error)}` };
  return { ...position, record: result.data };
}

/** Decodes an MSK event and reads each value: the fan-out's input, in partition order. */
export function sourceRecordsFromMskEvent(event: unknown): SourceRecord[] {
  return decodeMskEvent(event).map(readProducerRecord);
}

/**
 * The `itemIdentifier` Lambda expects in a Kafka partial batch response: the
 * `topic-partition` key and the offset to resume from. Lambda retries that partition
 * from this offset on.
 */
export interface KafkaItemIdentifier {
  readonly partition: string;
  readonly offset: number;
}

export function kafkaItemIdentifier(position: RecordPosition): KafkaItemIdentifier {
  return { partition: `${position.topic}-${position.partition}`, offset: position.offset };
}

function describeIssues(error: z.core.$ZodError): string {
  return formatZodIssues(error).join('; ');
}

// A record too broken to parse still needs a position to be reported under; take what
// it has, else what its `topic-partition` group key says.
function positionOfUnreadable(groupKey: string, raw: unknown, index: number): RecordPosition {
  const fields = (typeof raw === 'object' && raw !== null ? raw : {}) as Record<string, unknown>;
  const separator = groupKey.lastIndexOf('-');
  const groupTopic = separator > 0 ? groupKey.slice(0, separator) : groupKey;
  const groupPartition = separator > 0 ? Number(groupKey.slice(separator + 1)) : Number.NaN;
  return {
    topic: typeof fields.topic === 'string' ? fields.topic : groupTopic,
    partition: typeof fields.partition === 'number' ? fields.partition : Number.isInteger(groupPartition) ? groupPartition : -1,
    offset: typeof fields.offset === 'number' ? fields.offset : -1 - index,
  };
}
