import { createHash } from 'node:crypto';
import type { RecordPosition } from './source-record.js';

// Namespace of the name-based ids below; fixed forever, or redeliveries of records
// accepted before a change would get new ids and reach clients twice.
const RECORD_POSITION_NAMESPACE = 'f3b5c9a2-7d4e-4c1b-9a6f-2e8d0b7c5a13';

/**
 * The messageId of a record that names none: a name-based UUID (version 5, RFC 9562) of
 * its topic, partition and offset, so a redelivery of the record gets the same id and
 * is recognised as a duplicate.
 */
export function messageIdForPosition(position: RecordPosition): string {
  const namespace = Buffer.from(RECORD_POSITION_NAMESPACE.replaceAll('-', ''), 'hex');
  const name = Buffer.from(`${position.topic}/${position.partition}/${position.offset}`, 'utf8');
  const bytes = createHash('sha1').update(namespace).update(name).digest().subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
