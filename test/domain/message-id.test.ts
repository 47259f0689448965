import { describe, expect, it } from 'vitest';
import { targetOf } from '../../lambdas/domain/fanout/audience.js';
import { messageIdOf } from '../../lambdas/domain/fanout/message-id.js';
import { producerRecord, type ProducerRecord, type Target } from '../../protocol/records.js';
import { notificationRecord } from '../support/records.js';

const UUID_V5 = /^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const ALICE: Target = { kind: 'user', userId: 'alice' };

/** A valid producer record without a messageId: the producer left the key to us. */
function keyless(overrides: Record<string, unknown> = {}, payload: Record<string, unknown> = {}): ProducerRecord {
  const { messageId: _messageId, ...record } = notificationRecord(overrides, payload);
  return producerRecord.parse(record);
}

describe('messageIdOf', () => {
  it("keeps the record's own messageId", () => {
    // Prepare
    const record = producerRecord.parse(notificationRecord({ targetUserId: 'alice' }));

    // Act
    const key = messageIdOf(record, ALICE);

    // Assess
    expect(key).toBe(record.messageId);
  });

  it('gives a record without messageId a name-based UUID of its target and notificationId, whatever else it holds', () => {
    // Prepare: a retry of the same notification, built again a moment later.
    const first = keyless({ targetUserId: 'alice' }, { notificationId: 'booking-123', createdAt: '2026-01-01T00:00:00Z' });
    const retry = keyless({ targetUserId: 'alice' }, { notificationId: 'booking-123', createdAt: '2026-01-01T00:00:05Z', title: 'Edited' });

    // Act
    const keys = [messageIdOf(first, ALICE), messageIdOf(retry, ALICE)];

    // Assess
    expect(keys[0]).toMatch(UUID_V5);
    expect(keys[1]).toBe(keys[0]);
  });

  it('is stable across releases: the namespace and the name never change', () => {
    // A changed key would deliver again every retry that straddles a deployment. The value
    // is RFC 9562's: Python's uuid.uuid5(namespace, '["user","alice","n-1"]') gives it too.
    expect(messageIdOf(keyless({}, { notificationId: 'n-1' }), ALICE)).toBe('b010445d-1cd9-5089-8d14-f1b03a4a1ac4');
  });

  it('tells apart other notificationIds and other targets', () => {
    // Prepare
    const notificationIds = ['n-1', 'n-2', 'N-1'];
    const targets: Target[] = [
      ALICE,
      { kind: 'user', userId: 'bob' },
      { kind: 'channel', channel: 'alice' },
      { kind: 'channel', channel: 'user-alice' },
      { kind: 'broadcast' },
    ];

    // Act
    const keys = notificationIds.flatMap((notificationId) => targets.map((target) => messageIdOf(keyless({}, { notificationId }), target)));

    // Assess
    expect(new Set(keys).size).toBe(notificationIds.length * targets.length);
  });

  it('cannot be fooled by a separator inside a notificationId', () => {
    // Prepare: were the name joined with "/", these two would read "channel/a/b/c".
    const left = messageIdOf(keyless({}, { notificationId: 'b/c' }), { kind: 'channel', channel: 'a' });
    const right = messageIdOf(keyless({}, { notificationId: 'c' }), { kind: 'channel', channel: 'a/b' });

    // Assess
    expect(left).not.toBe(right);
  });

  it("keys a Kafka record without a target as one naming its topic's channel, on whichever topic, partition or offset", () => {
    // Prepare
    const untargeted = keyless({}, { notificationId: 'n-7' });
    const named = keyless({ channel: 'booking-updates' }, { notificationId: 'n-7' });
    const topicChannels = { 'bookings.v2': 'booking-updates' };

    // Act
    const fromTopic = messageIdOf(untargeted, targetOf(untargeted, 'booking-updates') as Target);
    const fromMappedTopic = messageIdOf(untargeted, targetOf(untargeted, 'bookings.v2', topicChannels) as Target);
    const fromChannel = messageIdOf(named, targetOf(named, 'other-topic') as Target);

    // Assess
    expect(fromMappedTopic).toBe(fromTopic);
    expect(fromChannel).toBe(fromTopic);
  });
});
