import { DescribeTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';

/**
 * How much slower than an idle machine this one answers right now, as a whole factor
 * 1..{@link MAX_PACE}: the median of sequential DynamoDB Local round trips (and the
 * event loop's lag, measured by the same timer) over {@link IDLE_ROUND_TRIP_MS}.
 *
 * The fault scenario's timings (the lease, `write_timeout`, the worker's timeout, and the
 * stall and spike made from them) are a second or a few. On a machine whose CPU is
 * shared eight ways (a load average of 16 on two cores), one DynamoDB Local request takes
 * hundreds of milliseconds and a 1 s lease lapses before a worker has posted anything:
 * every target ends in doubt (safe), but the seeded faults that come at later posts (the
 * stall, the crash, the spike) are never met, so the run proves less than it says. The
 * quick form multiplies those timings by this pace, so it meets every fault under load
 * as on an idle machine; on an idle machine the pace is 1 and nothing changes.
 */
export async function measureMachinePace(dynamodbEndpoint: string, samples = 15): Promise<number> {
  const client = new DynamoDBClient({ endpoint: dynamodbEndpoint, region: process.env.AWS_REGION ?? 'us-east-1' });
  const times: number[] = [];
  try {
    for (let index = 0; index < samples; index += 1) {
      const started = performance.now();
      // A table that does not exist: a full round trip, nothing created.
      await client.send(new DescribeTableCommand({ TableName: 'machine-pace-probe' })).catch(() => undefined);
      times.push(performance.now() - started);
    }
  } finally {
    client.destroy();
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] ?? IDLE_ROUND_TRIP_MS;
  return paceOf(median);
}

/** A DynamoDB Local round trip on this project's idle 2-core machine is 2-5 ms. */
export const IDLE_ROUND_TRIP_MS = 6;
export const MAX_PACE = 6;

export function paceOf(medianRoundTripMs: number): number {
  return Math.min(MAX_PACE, Math.max(1, Math.ceil(medianRoundTripMs / IDLE_ROUND_TRIP_MS)));
}
