import { childInput, reportProgress, runChildTask } from './child-process.js';
import { measureConnectionHour, type ConnectionHourCost } from './connection-hour.js';
import { meteredRequests, readMeter, resetMeter, sequentialRoundTrips, type MeterReading } from './dynamodb-request-meter.js';
import { notificationValue } from './fanout-assembly.js';
import { seedConnections, settled, startMeteredRuntime } from './metered-runtime.js';

/**
 * B2, store cost: DynamoDB requests and capacity units per delivered notification, and
 * the store round trips one after another before its first post, for channels and for
 * user-targeted notifications, measured on the production composition
 * (bench/metered-runtime.ts). Then what an idle connected client costs per hour of
 * heartbeats (bench/connection-hour.ts).
 */

export interface B2Input {
  readonly dynamodbEndpoint: string;
  /** Channel sizes to measure. */
  readonly channelSizes: readonly number[];
  /** A user-targeted notification to a user with this many connections, for each. */
  readonly userConnections: readonly number[];
  /** Notifications per scenario; the figures are their average (round trips: the most). */
  readonly notificationsPerScenario: number;
}

export interface B2Scenario {
  readonly name: string;
  readonly kind: 'channel' | 'user';
  /** Connections the notification is for. */
  readonly audience: number;
  readonly notifications: number;
  readonly deliveries: number;
  readonly requestsPerDelivery: number;
  readonly readRequestsPerDelivery: number;
  readonly capacityUnitsPerDelivery: number;
  /** Requests per notification, whatever its audience; failed ones included. */
  readonly requestsPerNotification: number;
  /** Of those, requests that failed (a conditional write whose condition was false, ...). */
  readonly failedRequestsPerNotification: number;
  readonly readCapacityUnitsPerNotification: number;
  /** Failed conditional writes included, billed as AWS bills them (see the meter). */
  readonly writeCapacityUnitsPerNotification: number;
  readonly byOperationPerNotification: Readonly<Record<string, number>>;
  /**
   * Store round trips one after another before the notification's first post reached
   * the Management API (requests that overlap count once): the most over the
   * notifications of the scenario.
   */
  readonly roundTripsBeforeFirstPost: number;
  /** The same, per notification, in the order they were sent. */
  readonly roundTripsBeforeFirstPostEach: readonly number[];
  /** Requests (of any wave) that started before the first post, per notification. */
  readonly requestsBeforeFirstPostEach: readonly number[];
  /** From the record's production to its first post, per notification (DynamoDB Local: not AWS's latency). */
  readonly msToFirstPostEach: readonly number[];
}

export interface B2Output {
  readonly scenarios: B2Scenario[];
  /**
   * One connection's hour of heartbeats at the default interval (bench/connection-hour.ts,
   * issue 10 part 6); null when not measured.
   */
  readonly connectionHour: ConnectionHourCost | null;
}

function perUnit(reading: MeterReading, notifications: number): Record<string, number> {
  return Object.fromEntries(Object.entries(reading.byOperation).map(([operation, count]) => [operation, count / notifications]));
}

runChildTask(async (): Promise<B2Output> => {
  const input = childInput<B2Input>();
  const { sink, tables, produce, stop } = await startMeteredRuntime({ dynamodbEndpoint: input.dynamodbEndpoint, prefix: 'bench-b2' });

  const measure = async (name: string, kind: B2Scenario['kind'], audience: number, value: () => string): Promise<B2Scenario> => {
    await settled(sink.posts, sink.posts(), `${name}: before`);
    resetMeter();
    const postsBefore = sink.posts();
    const notifications = input.notificationsPerScenario;
    const roundTrips: number[] = [];
    const requestsBefore: number[] = [];
    const msToFirstPost: number[] = [];
    // One at a time, each settled before the next: every request after `mark` is this
    // notification's, so its round trips before the first post can be told apart.
    for (let sent = 0; sent < notifications; sent += 1) {
      const record = value();
      const { messageId } = JSON.parse(record) as { messageId: string };
      const mark = meteredRequests().length;
      const producedAt = performance.now();
      await produce([record], name);
      await settled(sink.posts, postsBefore + audience * (sent + 1), name);
      const firstPostAt = sink.firstPostAt(messageId);
      if (firstPostAt === undefined) throw new Error(`${name}: no post of ${messageId} reached the Management API`);
      const requests = meteredRequests().slice(mark);
      roundTrips.push(sequentialRoundTrips(requests, firstPostAt));
      requestsBefore.push(requests.filter((request) => request.startMs < firstPostAt).length);
      msToFirstPost.push(Math.round((firstPostAt - producedAt) * 10) / 10);
    }
    const reading = readMeter();
    const deliveries = sink.posts() - postsBefore;
    if (deliveries !== audience * notifications) {
      throw new Error(`${name}: ${deliveries} posts for ${notifications} notifications to ${audience} connections`);
    }
    return {
      name,
      kind,
      audience,
      notifications,
      deliveries,
      requestsPerDelivery: reading.requests / deliveries,
      readRequestsPerDelivery: reading.readRequests / deliveries,
      capacityUnitsPerDelivery: (reading.readCapacityUnits + reading.writeCapacityUnits) / deliveries,
      requestsPerNotification: reading.requests / notifications,
      failedRequestsPerNotification: reading.failedRequests / notifications,
      readCapacityUnitsPerNotification: reading.readCapacityUnits / notifications,
      writeCapacityUnitsPerNotification: reading.writeCapacityUnits / notifications,
      byOperationPerNotification: perUnit(reading, notifications),
      roundTripsBeforeFirstPost: Math.max(...roundTrips),
      roundTripsBeforeFirstPostEach: roundTrips,
      requestsBeforeFirstPostEach: requestsBefore,
      msToFirstPostEach: msToFirstPost,
    };
  };

  const scenarios: B2Scenario[] = [];
  const count = input.notificationsPerScenario;
  const notificationsText = `${count} notification${count === 1 ? '' : 's'}`;
  try {
    for (const connections of input.userConnections) {
      const prefix = `b2u${connections}`;
      reportProgress(`user with ${connections} connection${connections === 1 ? '' : 's'}: ${notificationsText}`);
      await seedConnections(connections, connections, prefix, undefined);
      scenarios.push(
        await measure(`user, ${connections} connection${connections === 1 ? '' : 's'}`, 'user', connections, () =>
          notificationValue({ targetUserId: `${prefix}-0` }),
        ),
      );
    }
    for (const size of input.channelSizes) {
      const channel = `bench-store-${size}`;
      reportProgress(`channel of ${size}: opening ${size} connections`);
      await seedConnections(size, 1, `b2c${size}`, channel);
      reportProgress(`channel of ${size}: ${notificationsText}`);
      scenarios.push(await measure(`channel, ${size} subscriber${size === 1 ? '' : 's'}`, 'channel', size, () => notificationValue({ channel })));
    }
    reportProgress('an hour of heartbeats');
    const connectionHour = await measureConnectionHour({ endpoint: input.dynamodbEndpoint, tables });
    return { scenarios, connectionHour };
  } finally {
    await stop();
  }
});
