import type { B2Scenario } from './b2-store-cost.js';
import { DEFAULT_RECORD_CONCURRENCY } from '../lambdas/domain/fanout/fanout-service.js';
import type { B5Timings } from './b5-batch-parallelism.js';
import { ISSUE_10_LIMITS, SMALL_CHANNEL, type BenchResults } from './results.js';

/** The table printed at the end of a run: one section per benchmark, then the targets. */

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}

const fixed = (value: number | null | undefined, digits = 1) =>
  value === null || value === undefined || !Number.isFinite(value) ? '-' : value.toFixed(digits);
const count = (value: number) => value.toLocaleString('en-US');

export function renderResults(results: BenchResults): string {
  const sections: string[] = [];
  const { b0, b1, b2, b3, b4, b5, b6 } = results;

  if (b0 || b3) {
    const rows: string[][] = [];
    if (b0)
      rows.push([
        'B0 raw ws broadcast',
        count(b0.clients),
        fixed(b0.p50Ms),
        fixed(b0.p99Ms),
        count(Math.round(b0.deliveriesPerSecond)),
        fixed(b0.serverCpuUsPerDelivery),
      ]);
    if (b3)
      rows.push([
        `B3 service, end to end (C=${b3.fanoutConcurrency})`,
        count(b3.clients),
        fixed(b3.p50Ms),
        fixed(b3.p99Ms),
        count(Math.round(b3.deliveriesPerSecond)),
        fixed(b3.serverCpuUsPerDelivery),
      ]);
    if (b3 && b0) {
      rows.push([
        'B3 / B0',
        '',
        `${fixed(b3.p50RatioToB0, 2)}x`,
        `${fixed(b3.p99RatioToB0, 2)}x`,
        `${fixed(b3.throughputRatioToB0, 3)}x`,
        `${fixed(b3.serverCpuRatioToB0, 1)}x`,
      ]);
    }
    sections.push(
      `Delivery to WebSocket clients (publish -> receipt)\n${table(['', 'clients', 'p50 ms', 'p99 ms', 'deliveries/s', 'server CPU us/delivery'], rows)}`,
    );
  }

  if (b1) {
    const rows = b1.measurements.map((run) => [
      `${count(run.connections)} @ ${run.latencyMs} ms`,
      `${run.concurrency}${run.agent === 'sdk-default' ? ' (SDK agent)' : ''}`,
      fixed(run.idealMs / 1000, 2),
      fixed(run.measuredMs / 1000, 2),
      fixed(run.efficiency, 2),
      count(Math.round(run.postsPerSecond)),
      String(run.peakInFlight),
      fixed(run.cpuUsPerPost, 0),
      String(run.throttled),
      String(run.failed),
    ]);
    const floor = b1.transportFloor;
    sections.push(
      `B1 fan-out efficiency (Management API stand-in: ${count(b1.ratePerSecond)} posts/s quota, burst ${b1.burst})\n` +
        table(['N @ L', 'C', 'ideal s', 'measured s', 'efficiency', 'posts/s', 'peak in flight', 'CPU us/post', '429s', 'failed'], rows) +
        `\nplain node:http posts, same server (${count(floor.connections)} @ ${floor.latencyMs} ms, C=${floor.concurrency}): ` +
        `${fixed(floor.cpuUsPerPost, 0)} us CPU per post, ${fixed(floor.measuredMs / 1000, 2)} s`,
    );
  }

  if (b2) {
    const limits = ISSUE_10_LIMITS;
    const largestChannel = b2.subscribers;
    // Issue 10's limits beside the figures they bound.
    const limitOf = (scenario: B2Scenario): string => {
      if (scenario.kind === 'user' || scenario.audience === SMALL_CHANNEL) {
        return `<= ${limits.leanRequests} req, <= ${limits.leanWriteUnits} WCU, <= ${limits.leanRoundTrips} RT`;
      }
      if (scenario.kind === 'channel' && scenario.audience === largestChannel && scenario.audience > SMALL_CHANNEL) {
        return `<= ${limits.largeChannelRequestsPerDelivery} req/delivery`;
      }
      return '';
    };
    const rows = b2.scenarios.map((scenario) => [
      scenario.name,
      fixed(scenario.requestsPerNotification, 1),
      scenario.requestsPerDelivery < 0.01 ? scenario.requestsPerDelivery.toExponential(2) : fixed(scenario.requestsPerDelivery, 3),
      fixed(scenario.readRequestsPerDelivery, 4),
      fixed(scenario.readCapacityUnitsPerNotification, 1),
      fixed(scenario.writeCapacityUnitsPerNotification, 1),
      fixed(scenario.failedRequestsPerNotification, 1),
      `${scenario.roundTripsBeforeFirstPost} (${scenario.roundTripsBeforeFirstPostEach.join(', ')})`,
      limitOf(scenario),
      Object.entries(scenario.byOperationPerNotification)
        .map(([operation, perNotification]) => `${operation.replace(/Command$/, '')} ${fixed(perNotification, 1)}`)
        .join(', '),
    ]);
    const connectionHour =
      b2.connectionHour === null
        ? `write units per connection-hour: not measured; limit <= ${limits.writeUnitsPerConnectionHour}`
        : `an idle connection, per hour (${b2.connectionHour.heartbeats} heartbeats): ${fixed(b2.connectionHour.requests, 0)} requests, ` +
          `${fixed(b2.connectionHour.readUnits, 1)} RCU, ${fixed(b2.connectionHour.writeUnits, 1)} WCU (limit <= ${limits.writeUnitsPerConnectionHour} WCU)`;
    sections.push(
      `B2 DynamoDB cost per notification (DynamoDB Local, ReturnConsumedCapacity; failed conditional writes billed as AWS does)\n` +
        table(
          [
            'audience',
            'requests',
            'requests/delivery',
            'reads/delivery',
            'RCU',
            'WCU',
            'failed',
            'RT before 1st post (each)',
            'limit (issue 10)',
            'requests by operation',
          ],
          rows,
        ) +
        `\nRT: store round trips one after another before the first post (overlapping requests count once); the most over the notifications.\n` +
        connectionHour,
    );
  }

  if (b5) {
    const row = (store: string, timings: B5Timings) => [
      store,
      fixed(timings.singleMsMedian, 1),
      fixed(timings.batchMsMedian, 1),
      fixed(timings.batchRatio, 2),
      timings.singleMs.map((ms, round) => `${fixed(ms, 0)}/${fixed(timings.batchMs[round], 0)}`).join(', '),
    ];
    const local = b5.dynamoDbLocal;
    sections.push(
      `B5 batch parallelism (${b5.batchSize} user-targeted records to ${b5.batchSize} users in one event against one record; ` +
        `Management API stand-in answering after ${b5.postLatencyMs} ms; medians of rounds side by side; ` +
        `fan-out taking ${b5.recordConcurrency} record${b5.recordConcurrency === 1 ? '' : 's'} at once` +
        `${b5.recordConcurrency === DEFAULT_RECORD_CONCURRENCY ? '' : ' in the modelled figure, its default on DynamoDB Local'})\n` +
        table(
          ['store', 'one record ms', `${b5.batchSize} records ms`, 'batch ratio', 'each round, one/batch ms'],
          [row(`modelled, ${b5.storeLatencyMs} ms a request`, b5), ...(local ? [row('DynamoDB Local', local)] : [])],
        ) +
        `\nbatch ratio ${fixed(b5.batchRatio, 2)} (limit <= ${ISSUE_10_LIMITS.batchRatio}), store modelled at ${b5.storeLatencyMs} ms a request ` +
        `(${fixed(b5.storeRequestsPerRecord, 1)} requests a record); the fan-out's CPU per batch ${fixed(b5.batchCpuMsMedian, 0)} ms (median)` +
        `\non DynamoDB Local: ${local ? fixed(local.batchRatio, 2) : 'not measured'}, bounded by the emulator, which runs requests one at a time (not judged)`,
    );
  }

  if (b6) {
    const byTarget = (costs: Readonly<Record<string, number>>) =>
      Object.entries(costs)
        .map(([target, requests]) => `${target} ${requests}`)
        .join(', ');
    const presenceRows = b6.presence.flatMap((presenceCase) =>
      presenceCase.steps.map((step) => [
        `${count(presenceCase.members)} member${presenceCase.members === 1 ? '' : 's'}${presenceCase.members + 1 > presenceCase.maxMembers ? ' (above cap)' : ''}: ${step.step}`,
        String(step.requests),
        fixed(step.writeCapacityUnits, 1),
        `${step.presenceRequests} / ${fixed(step.presenceWriteCapacityUnits, 1)}`,
        String(step.posts),
        byTarget(step.byTarget),
      ]),
    );
    const deliveryRows = b6.inboxDelivery.map((delivery) => [
      delivery.name,
      String(delivery.requests),
      fixed(delivery.writeCapacityUnits, 1),
      `${delivery.roundTripsBeforeFirstPost} (${delivery.roundTripsWithoutStreamItem} without it)`,
      `${delivery.inboxRequests} / ${fixed(delivery.inboxWriteCapacityUnits, 1)}`,
      byTarget(delivery.byTarget),
    ]);
    const markRows = b6.markRead.map((mark) => [
      `${mark.name}, ${count(mark.inboxItems)} items (${count(mark.unreadBefore)} unread)`,
      String(mark.requests),
      fixed(mark.readCapacityUnits, 1),
      fixed(mark.writeCapacityUnits, 1),
      `${count(mark.answerBytes)}${mark.truncated ? ` (${mark.idsListed} ids, truncated)` : ` (${mark.idsListed} ids)`}`,
      byTarget(mark.byTarget),
    ]);
    const welcome = b6.unreadCountAtWelcome;
    sections.push(
      `B6 presence and inbox cost (DynamoDB Local, the production composition; posts to a Management API stand-in)\n` +
        table(['presence channel', 'requests', 'WCU', 'presence req / WCU', 'posts', 'requests by target'], presenceRows) +
        '\n\n' +
        table(['inbox on the delivery path', 'requests', 'WCU', 'RT before 1st post', 'inbox req / WCU', 'requests by target'], deliveryRows) +
        '\n\n' +
        table(['markRead', 'requests', 'RCU', 'WCU', 'answer bytes', 'requests by target'], markRows) +
        `\nwelcome's unreadCount on ${count(welcome.inboxItems)} items (${count(welcome.unread)} unread): ${welcome.requests} requests, ${fixed(welcome.readCapacityUnits, 1)} RCU`,
    );
  }

  if (b4) {
    const rows = b4.functions.map((fn) => [
      fn.id,
      fixed(fn.bundleKb, 0),
      fixed(fn.initMsMedian, 0),
      fn.largestParts
        .slice(0, 3)
        .map((part) => `${part.part} ${fixed(part.kb, 0)}`)
        .join(', '),
    ]);
    sections.push(
      `B4 cold start (esbuild as the CDK bundles; import in a fresh ${b4.nodeVersion} process)\n${table(['function', 'KB', 'init ms', 'largest parts (KB)'], rows)}`,
    );
  }

  const targetRows = results.targets.map((target) => [
    target.description,
    target.value === null ? '-' : Math.abs(target.value) < 0.01 && target.value !== 0 ? target.value.toExponential(2) : fixed(target.value, 3),
    target.limit,
    target.met === null ? 'not measured' : target.met ? 'met' : 'NOT MET',
  ]);
  sections.push(`Targets (reported, never asserted)\n${table(['target', 'value', 'limit', 'verdict'], targetRows)}`);
  return sections.join('\n\n');
}
