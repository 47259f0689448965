import { LambdaClient } from '@aws-sdk/client-lambda';
import { SQSClient } from '@aws-sdk/client-sqs';
import { LambdaShardDispatcher } from './adapters/lambda/shard-dispatcher.js';
import { SqsDeadLetterSink } from './adapters/sqs/dead-letter-sink.js';
import { lazy } from './composition-base.js';
import { provideParts, type PartContext } from './composition.js';
import { tellingRemovals } from './domain/connection-removal.js';
import { createShardWorker, FanoutService, type FanoutServiceOptions } from './domain/fanout/fanout-service.js';

/**
 * The fan-out's pieces (dead-letter queue, worker invocations), imported by the fan-out
 * and fan-out worker functions: only they load the SQS and Lambda clients.
 */

// One set of options per services object, shared by the fan-out and the shard worker.
const fanoutOptions = new WeakMap<object, () => FanoutServiceOptions>();

function optionsOf({ services, fanoutSender }: PartContext): FanoutServiceOptions {
  let options = fanoutOptions.get(services);
  if (!options) {
    options = lazy((): FanoutServiceOptions => {
      const { config } = services;
      const letters = services.deadLetters;
      const dispatcher = services.shardDispatcher;
      return {
        // A connection removed on a 410 leaves its presence channels (`leave`).
        connections: tellingRemovals(services.connections, services.onConnectionRemoved, services.logger),
        subscriptions: services.subscriptions,
        notifications: services.notifications,
        sender: fanoutSender(),
        ledger: services.deliveryLedger,
        progress: services.deliveryProgress,
        ...(letters ? { deadLetters: letters } : {}),
        ...(dispatcher ? { dispatcher } : {}),
        clock: services.clock,
        log: services.logger,
        concurrency: config.kafka.fanout_concurrency,
        historyTtlSeconds: config.websocket.history_ttl,
        topicChannels: config.kafka.topic_channels,
        shardSize: config.delivery.shard_size,
        postsPerSecond: config.delivery.api_quota_per_second * config.delivery.quota_share,
        retry: { attempts: config.delivery.post_attempts, baseDelayMs: 50, maxDelayMs: 2000 },
        leaseMs: config.delivery.lease_seconds * 1000,
        chunkSize: config.delivery.chunk_size,
      };
    });
    fanoutOptions.set(services, options);
  }
  return options();
}

provideParts({
  deadLetters: ({ services: { env } }) => {
    const queueUrl = env.DEAD_LETTER_QUEUE_URL;
    if (!queueUrl) return undefined;
    // The queue URL's origin is the SQS endpoint, in AWS and at the local runtime alike.
    return new SqsDeadLetterSink({ client: new SQSClient({ endpoint: new URL(queueUrl).origin }), queueUrl });
  },
  shardDispatcher: ({ services: { env } }) => {
    const functionName = env.FANOUT_WORKER_FUNCTION_NAME;
    if (!functionName) return undefined;
    return new LambdaShardDispatcher({
      client: new LambdaClient(env.LAMBDA_ENDPOINT ? { endpoint: env.LAMBDA_ENDPOINT } : {}),
      functionName,
    });
  },
  fanout: (context) => new FanoutService(optionsOf(context)),
  // A worker that runs out of time releases its shard and stops; the fan-out watching
  // the job dispatches it again (a worker cannot name itself without a template cycle).
  shardWorker: (context) => createShardWorker({ ...optionsOf(context), dispatcher: undefined }).worker!,
});
