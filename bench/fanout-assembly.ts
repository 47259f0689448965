import { randomUUID } from 'node:crypto';
import { sourceRecordsFromMskEvent } from '../lambdas/adapters/kafka/msk-event.js';
import type { FanoutService } from '../lambdas/domain/fanout/fanout-service.js';
import type { SourceRecord } from '../lambdas/domain/fanout/source-record.js';
import type {
  ConnectionStore,
  DeliveryLedger,
  DeliveryProgressStore,
  Log,
  MessageSender,
  NotificationLog,
  SubscriptionStore,
} from '../lambdas/domain/ports.js';
import { wireFanout } from '../lambdas/fanout-wiring.js';
import { MskEventBuilder } from '../local/kafka/msk-event.js';

/**
 * B1, B2 and B5 build the production FanoutService with the wiring
 * lambdas/composition-fanout.ts uses (wireFanout), over the adapters each benchmark
 * measures, and feed it what the fan-out handler feeds it: records decoded from an MSK
 * event. This is the one place that knows how.
 */

export interface FanoutParts {
  readonly connections: ConnectionStore;
  readonly subscriptions: SubscriptionStore;
  readonly notifications: NotificationLog;
  readonly sender: MessageSender;
  readonly ledger: DeliveryLedger;
  readonly concurrency: number;
  /** @default - the fan-out's own (DEFAULT_RECORD_CONCURRENCY) */
  readonly recordConcurrency?: number;
  /** @default - none: every audience is posted by this invocation */
  readonly progress?: DeliveryProgressStore;
}

/** The fan-out logs one line per notification; the benchmark reads the summary instead. */
const silentLog: Log = { debug() {}, info() {}, warn() {}, error() {} };

/** Seven days, the default `websocket.history_ttl`. */
const HISTORY_TTL_SECONDS = 604_800;

export function buildFanout(parts: FanoutParts): FanoutService {
  return wireFanout({
    ...parts,
    clock: { now: () => new Date() },
    log: silentLog,
    historyTtlSeconds: HISTORY_TTL_SECONDS,
  });
}

/** A producer record of a typical size (about 300 bytes as a frame). */
export function notificationValue(target: { channel: string } | { targetUserId: string }): string {
  return JSON.stringify({
    messageId: randomUUID(),
    type: 'notification',
    ...target,
    payload: {
      notificationId: randomUUID(),
      title: 'Booking Confirmed',
      message: 'Your booking for Saturday 14:00 has been confirmed. See you there!',
      priority: 'medium',
      actionUrl: '/bookings/123',
      createdAt: new Date().toISOString(),
    },
  });
}

const events = new MskEventBuilder();

/** Record values as the fan-out handler would receive them from an MSK event. */
export function sourceRecords(topic: string, values: readonly string[]): SourceRecord[] {
  return sourceRecordsFromMskEvent(events.build(topic, 0, values));
}
