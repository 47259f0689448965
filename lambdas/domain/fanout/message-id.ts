import { createHash } from 'node:crypto';
import type { ProducerRecord, Target } from '../../../protocol/records.js';

// The namespace of the name-based ids below; fixed forever, or records accepted before a
// change and sent again after it would get new ids and reach clients twice.
const NOTIFICATION_INTENT_NAMESPACE = '8c1e4f7a-2b6d-4e93-a5c0-d7f1b3e9a264';

/**
 * The duplicate key of a producer record, from Kafka or the server API alike
 * (docs/protocol.md section 6): its `messageId` when it names one; otherwise a
 * name-based UUID (version 5, RFC 9562) of its target and `payload.notificationId`,
 * so that a producer's retry (a new Kafka offset, a second API call) gets the same key
 * and is delivered once within `history_ttl`.
 * @param target - where the record goes, with the topic's channel applied for a Kafka
 *   record that names none (`targetOf`), so that it keys like one naming that channel.
 */
export function messageIdOf(record: ProducerRecord, target: Target): string {
  return record.messageId ?? nameBasedUuid(NOTIFICATION_INTENT_NAMESPACE, intentName(target, record.payload.notificationId));
}

// JSON, not a separator: a notificationId may hold any character, and `["channel","a/b"]`
// must never read the same as another target and id.
function intentName(target: Target, notificationId: string): string {
  switch (target.kind) {
    case 'user':
      return JSON.stringify(['user', target.userId, notificationId]);
    case 'channel':
      return JSON.stringify(['channel', target.channel, notificationId]);
    case 'broadcast':
      return JSON.stringify(['broadcast', notificationId]);
  }
}

function nameBasedUuid(namespace: string, name: string): string {
  const bytes = createHash('sha1')
    .update(Buffer.from(namespace.replaceAll('-', ''), 'hex'))
    .update(Buffer.from(name, 'utf8'))
    .digest()
    .subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
