import { randomUUID } from 'node:crypto';

/** A valid producer record (protocol section 6), with what the test overrides. */
export function notificationRecord(overrides: Record<string, unknown> = {}, payload: Record<string, unknown> = {}) {
  return {
    messageId: randomUUID(),
    type: 'notification',
    payload: {
      notificationId: randomUUID(),
      title: 'Booking Confirmed',
      message: 'Your booking has been confirmed',
      priority: 'medium',
      actionUrl: '/bookings/123',
      createdAt: new Date().toISOString(),
      ...payload,
    },
    ...overrides,
  };
}
