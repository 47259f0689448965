import { KafkaMskEventSchema } from '@aws-lambda-powertools/parser/schemas/kafka';
import { describe, expect, it } from 'vitest';
import { decodeMskEvent, InvalidKafkaEventError, kafkaItemIdentifier, sourceRecordsFromMskEvent } from '../../lambdas/adapters/kafka/msk-event.js';
import { isReadable, type UnreadableRecord } from '../../lambdas/domain/fanout/source-record.js';
import { mskEvent, notificationValue } from './kafka-msk-event-fixture.js';

describe('decodeMskEvent', () => {
  it('builds fixtures that Powertools parser accepts as MSK events', () => {
    const event = mskEvent([{ topic: 'booking-updates', offset: 1, value: notificationValue() }]);

    expect(KafkaMskEventSchema.safeParse(event).success).toBe(true);
  });

  it('decodes base64 values and keys, with topic, partition, offset and timestamp', () => {
    // Prepare
    const event = mskEvent([{ topic: 'booking-updates', partition: 2, offset: 15, value: '{"a":"é"}', key: 'user-1' }]);

    // Act
    const decoded = decodeMskEvent(event);

    // Assess
    expect(decoded).toEqual([{ topic: 'booking-updates', partition: 2, offset: 15, timestamp: 1_700_000_000_015, value: '{"a":"é"}', key: 'user-1' }]);
  });

  it('yields records in partition order: groups as listed, each by offset', () => {
    const event = mskEvent([
      { topic: 'a', partition: 0, offset: 7, value: 'x' },
      { topic: 'b', partition: 1, offset: 3, value: 'x' },
      { topic: 'a', partition: 0, offset: 5, value: 'x' },
      { topic: 'b', partition: 1, offset: 4, value: 'x' },
    ]);

    const order = decodeMskEvent(event).map((record) => `${record.topic}-${record.partition}@${record.offset}`);

    expect(order).toEqual(['a-0@5', 'a-0@7', 'b-1@3', 'b-1@4']);
  });

  it('reports a record without a value with its reason instead of failing the event', () => {
    const event = structuredClone(
      mskEvent([
        { topic: 't', offset: 1, value: 'x' },
        { topic: 't', offset: 2, value: 'y' },
      ]),
    );
    delete (event.records['t-0']![0] as Partial<{ value: string }>).value;

    const decoded = decodeMskEvent(event);

    expect(decoded).toHaveLength(2);
    expect(decoded[0]).toMatchObject({ topic: 't', partition: 0, offset: 1 });
    expect((decoded[0] as UnreadableRecord).reason).toMatch(/^not a Kafka record: value:/);
    expect(decoded[1]).toMatchObject({ offset: 2, value: 'y' });
  });

  it('throws InvalidKafkaEventError for something that is no MSK event', () => {
    expect(() => decodeMskEvent({ Records: [] })).toThrow(InvalidKafkaEventError);
    expect(() => decodeMskEvent({ Records: [] })).toThrow(/not an MSK event: records: /);
    expect(() => decodeMskEvent(undefined)).toThrow(InvalidKafkaEventError);
  });
});

describe('sourceRecordsFromMskEvent', () => {
  it('reads valid values as producer records', () => {
    const value = notificationValue({ targetUserId: 'user123', messageId: '0b8a3a4e-4a5e-4c61-9a0e-6b3f1c2d4e5f' });

    const [record] = sourceRecordsFromMskEvent(mskEvent([{ topic: 'booking-updates', offset: 1, value }]));

    expect(record && isReadable(record)).toBe(true);
    expect(record).toMatchObject({ topic: 'booking-updates', partition: 0, offset: 1, record: { targetUserId: 'user123' } });
  });

  it.each([
    ['not JSON', 'not json {', /^value is not JSON: /],
    ['a wrong type', notificationValue({ type: 'welcome' }), /type: /],
    ['a missing payload field', { ...notificationValue(), payload: { title: 'x' } }, /payload\.notificationId: /],
    ['a bad priority', { ...notificationValue(), payload: { ...(notificationValue().payload as object), priority: 'whenever' } }, /payload\.priority: /],
    ['two targets', notificationValue({ targetUserId: 'u1', broadcast: true }), /at most one of targetUserId, channel and broadcast/],
    ['a bad channel name', notificationValue({ channel: 'Not A Channel' }), /channel: /],
  ])('names what is wrong with a value with %s, never throwing', (_label, value, reason) => {
    const records = sourceRecordsFromMskEvent(
      mskEvent([
        { topic: 'booking-updates', offset: 1, value },
        { topic: 'booking-updates', offset: 2, value: notificationValue() },
      ]),
    );

    expect(records).toHaveLength(2);
    expect(isReadable(records[0]!)).toBe(false);
    expect((records[0] as UnreadableRecord).reason).toMatch(reason);
    expect(isReadable(records[1]!)).toBe(true);
  });
});

describe('kafkaItemIdentifier', () => {
  it('names the topic-partition and the offset, as Lambda expects for Kafka partial batch responses', () => {
    expect(kafkaItemIdentifier({ topic: 'booking-updates', partition: 3, offset: 42 })).toEqual({
      partition: 'booking-updates-3',
      offset: 42,
    });
  });
});
