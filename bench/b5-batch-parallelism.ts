import { childInput, reportProgress, runChildTask } from './child-process.js';
import { notificationValue } from './fanout-assembly.js';
import { seedConnections, settled, startMeteredRuntime, type PostSink } from './metered-runtime.js';

/**
 * B5, batch parallelism (issue 10 part 5): one MSK event of N user-targeted records, each
 * to a different user, against one record alone, on the production composition
 * (bench/metered-runtime.ts) with a Management API stand-in that answers each post after
 * `postLatencyMs`. Order is promised per connection, not per partition, so records to
 * different users may go out at once: a batch of 100 should take a few times one record,
 * not 100 times.
 */

export interface B5Input {
  readonly dynamodbEndpoint: string;
  /** Records in the batch, each to its own user (one connection each). */
  readonly batchSize: number;
  readonly postLatencyMs: number;
  /** Measured rounds; each round times one record alone, then the batch. */
  readonly rounds: number;
  /** Single records delivered before the measured rounds (handler modules load, sockets open). */
  readonly warmupRecords: number;
}

export interface B5Output {
  readonly batchSize: number;
  readonly postLatencyMs: number;
  readonly rounds: number;
  /** Production to the last post answered (or the fan-out's answer, if later), per round. */
  readonly singleMs: readonly number[];
  readonly batchMs: readonly number[];
  readonly singleMsMedian: number;
  readonly batchMsMedian: number;
  /** batchMsMedian / singleMsMedian (issue 10: at most 5). */
  readonly batchRatio: number;
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/**
 * From just before the records are produced until the fan-out has answered and every
 * post it owed was answered by the stand-in; then waits until the store is quiet, so
 * that no tail of this run overlaps the next.
 */
async function timeDelivery(sink: PostSink, produce: () => Promise<void>, posts: number, what: string): Promise<number> {
  const expected = sink.posts() + posts;
  const startedAt = performance.now();
  await produce();
  const answeredAt = performance.now();
  await settled(sink.posts, expected, what);
  const lastPostAt = sink.lastAnsweredAt() ?? answeredAt;
  return Math.round((Math.max(answeredAt, lastPostAt) - startedAt) * 10) / 10;
}

runChildTask(async (): Promise<B5Output> => {
  const input = childInput<B5Input>();
  const { sink, produce, stop } = await startMeteredRuntime({
    dynamodbEndpoint: input.dynamodbEndpoint,
    prefix: 'bench-b5',
    postLatencyMs: input.postLatencyMs,
  });
  const users = Array.from({ length: input.batchSize }, (_, index) => `b5u-${index}`);
  const single: number[] = [];
  const batch: number[] = [];
  try {
    reportProgress(`opening ${input.batchSize} connections, one per user`);
    await seedConnections(input.batchSize, 1, 'b5u', undefined);
    // Warm-up: single records load the handler modules and open the sender's sockets.
    for (let round = 0; round < input.warmupRecords; round += 1) {
      reportProgress(`warm-up ${round + 1} of ${input.warmupRecords}`);
      await timeDelivery(sink, () => produce([notificationValue({ targetUserId: users[round % users.length]! })], 'warm-up'), 1, 'warm-up');
    }
    for (let round = 0; round < input.rounds; round += 1) {
      reportProgress(`round ${round + 1} of ${input.rounds}`);
      // Side by side: one record, then the batch, in every round.
      const alone = users[round % users.length]!;
      single.push(await timeDelivery(sink, () => produce([notificationValue({ targetUserId: alone })], 'one record'), 1, 'one record'));
      const values = users.map((targetUserId) => notificationValue({ targetUserId }));
      batch.push(await timeDelivery(sink, () => produce(values, `batch of ${input.batchSize}`), input.batchSize, `batch of ${input.batchSize}`));
    }
  } finally {
    await stop();
  }
  const singleMsMedian = median(single);
  const batchMsMedian = median(batch);
  return {
    batchSize: input.batchSize,
    postLatencyMs: input.postLatencyMs,
    rounds: input.rounds,
    singleMs: single,
    batchMs: batch,
    singleMsMedian,
    batchMsMedian,
    batchRatio: batchMsMedian / singleMsMedian,
  };
});
