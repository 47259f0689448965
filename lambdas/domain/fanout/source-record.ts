import type { ProducerRecord } from '../../../protocol/records.js';

/** Where a record sits in its source: the Kafka topic, partition and offset. */
export interface RecordPosition {
  readonly topic: string;
  readonly partition: number;
  readonly offset: number;
}

/** A producer record that could be read. */
export interface ReadableRecord extends RecordPosition {
  readonly record: ProducerRecord;
  /** The raw value, for the dead letter should the record turn out undeliverable. */
  readonly value?: string;
}

/** A record that cannot be delivered, and why (not JSON, which field is wrong, ...). */
export interface UnreadableRecord extends RecordPosition {
  readonly reason: string;
  /** The raw value, when there was one, for its dead letter. */
  readonly value?: string;
}

/** One record of a batch as the fan-out receives it, in partition order. */
export type SourceRecord = ReadableRecord | UnreadableRecord;

export function isReadable(record: SourceRecord): record is ReadableRecord {
  return 'record' in record;
}
