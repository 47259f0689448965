import type { MSKEvent, MSKRecord } from 'aws-lambda';

/** A record value as a producer would publish it, or raw text to test bad values. */
export type RecordValue = object | string;

export interface FixtureRecord {
  readonly topic: string;
  readonly partition?: number;
  readonly offset: number;
  readonly value: RecordValue;
  readonly key?: string;
}

/**
 * An MSK event shaped as Lambda delivers it: records grouped under `topic-partition`,
 * base64 key and value, header values as byte arrays.
 */
export function mskEvent(records: readonly FixtureRecord[]): MSKEvent {
  const grouped: Record<string, MSKRecord[]> = {};
  for (const record of records) {
    const partition = record.partition ?? 0;
    const text = typeof record.value === 'string' ? record.value : JSON.stringify(record.value);
    (grouped[`${record.topic}-${partition}`] ??= []).push({
      topic: record.topic,
      partition,
      offset: record.offset,
      timestamp: 1_700_000_000_000 + record.offset,
      timestampType: 'CREATE_TIME',
      key: Buffer.from(record.key ?? `key-${record.offset}`).toString('base64'),
      value: Buffer.from(text).toString('base64'),
      headers: [{ source: [...Buffer.from('test')] }],
    });
  }
  return {
    eventSource: 'aws:kafka',
    eventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/notifications/abcd1234-abcd-cafe-abab-9876543210ab-4',
    bootstrapServers: 'b-1.notifications.kafka.us-east-1.amazonaws.com:9092,b-2.notifications.kafka.us-east-1.amazonaws.com:9092',
    records: grouped,
  };
}

/** A valid producer record value (protocol section 6) with the given target fields. */
export function notificationValue(fields: Record<string, unknown> = {}, title = 'Booking Confirmed'): Record<string, unknown> {
  return {
    type: 'notification',
    payload: {
      notificationId: `n-${title.toLowerCase().replaceAll(' ', '-')}`,
      title,
      message: 'Your booking has been confirmed',
      priority: 'medium',
      actionUrl: '/bookings/123',
      createdAt: '2024-01-01T00:00:00Z',
    },
    ...fields,
  };
}
