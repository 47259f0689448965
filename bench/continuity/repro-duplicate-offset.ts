import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import { DynamoDbDeliveryLedger } from '../../lambdas/adapters/dynamodb/delivery-ledger.js';
import { DynamoDbNotificationLog } from '../../lambdas/adapters/dynamodb/notification-log.js';
import type { StoredNotification } from '../../lambdas/domain/ports.js';
import { LOCAL_REGION, useLocalAwsIdentity } from '../../local/aws-identity.js';
import { createTables, startDynamoDbLocal } from '../../local/dynamodb-local.js';
import type { Target } from '../../protocol/records.js';

/**
 * `npx tsx bench/continuity/repro-duplicate-offset.ts`: the "twice" `npm run continuity`
 * found, reproduced at the store with no timing luck. A record's retry takes a new
 * offset of the stream and `DeliveryLedger.begin` writes the notification's stream item
 * there before it learns that the ledger entry exists (another run accepted it at its own
 * offset); it removes that item only afterwards. A `recover` reading in between replays
 * the same messageId at the second offset, and the SDK, which tells positioned frames
 * apart by position, shows it twice. When the entry's read fails instead, the item is
 * never removed (`release` returns early: the entry is not the caller's).
 *
 * Prints what `readFrom` (the store read behind `recover`) returns in the window and after.
 */

useLocalAwsIdentity();
const external = process.env.DYNAMODB_ENDPOINT;
const dynamoDb = external ? { endpoint: external, stop: async () => {} } : await startDynamoDbLocal();
try {
  const raw = new DynamoDBClient({ endpoint: dynamoDb.endpoint, region: LOCAL_REGION });
  const tables = await createTables(raw, `repro-${randomUUID().slice(0, 6)}-`);
  // The ledger's read of the existing entry (GetItem on message#...) can be held or failed.
  let getItem: 'pass' | 'hold' | 'fail' = 'pass';
  let released: () => void = () => {};
  raw.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetItemCommand' && getItem === 'hold') await new Promise<void>((resolve) => (released = resolve));
      if (context.commandName === 'GetItemCommand' && getItem === 'fail') throw Object.assign(new Error('socket hang up'), { name: 'TimeoutError' });
      return next(args);
    },
    { step: 'initialize', name: 'reproHold' },
  );
  const client = DynamoDBDocumentClient.from(raw);
  const ledger = new DynamoDbDeliveryLedger({ client, tables });
  const log = new DynamoDbNotificationLog({ client, tables });
  const target: Target = { kind: 'channel', channel: 'news' };
  const stream = 'channel#news';
  const ttl = 3600;
  const run = async (messageId: string): Promise<StoredNotification> => {
    const place = await log.takeOffset(stream, Date.now(), ttl);
    const acceptedAt = new Date().toISOString();
    const frame = {
      messageId,
      type: 'notification' as const,
      timestamp: acceptedAt,
      channel: 'news',
      stream,
      epoch: place.epoch,
      offset: place.offset,
      payload: { notificationId: `n-${messageId.slice(0, 4)}`, title: 't', message: 'm', priority: 'low' as const, createdAt: acceptedAt },
    };
    return { messageId, acceptedAt, frame };
  };
  const read = async (epoch: string) => {
    const slice = await log.readFrom(stream, epoch, 0, 100, Date.now());
    const items = slice.notifications.map((item) => `offset ${item.offset}: ${item.messageId.slice(0, 8)}`).join(', ');
    return `${items}; tombstones [${[...slice.skipped].join(', ')}]`;
  };

  // 1. The first run accepts message A at offset 1 and claims it (its posts may be under way).
  const a = randomUUID();
  const first = await run(a);
  if ((await ledger.begin(first, [target], { owner: 'run-1', leaseUntilMs: Date.now() + 2000 }, ttl)) !== undefined) throw new Error('run 1 did not claim');
  const epoch = first.frame.epoch!;
  process.stdout.write(`after run 1:                    ${await read(epoch)}\n`);

  // 2. The record's retry (run 2) takes offset 2 and calls begin; its read of the entry is held.
  const second = await run(a);
  getItem = 'hold';
  const beginning = ledger.begin(second, [target], { owner: 'run-2', leaseUntilMs: Date.now() + 2000 }, ttl);
  await sleep(300);
  process.stdout.write(`run 2 inside begin (recover now): ${await read(epoch)}\n`);
  getItem = 'pass';
  released();
  const existing = await beginning;
  process.stdout.write(`run 2 begin returned the entry of ${existing?.owner}; after: ${await read(epoch)}\n`);

  // 3. Run 3: its read of the entry fails (a timeout under a stall): begin throws, and the
  //    domain's #release + skip follow (lambdas/domain/fanout/notification-delivery.ts).
  const third = await run(a);
  getItem = 'fail';
  const outcome = await ledger.begin(third, [target], { owner: 'run-3', leaseUntilMs: Date.now() + 2000 }, ttl).then(
    () => 'returned',
    (error: unknown) => `threw ${(error as Error).name}`,
  );
  getItem = 'pass';
  await ledger.release(third, [target], 'run-3');
  await log.skip(stream, { epoch: third.frame.epoch!, offset: third.frame.offset! }, ttl);
  process.stdout.write(`run 3 begin ${outcome}; after release and skip: ${await read(epoch)}\n`);
  raw.destroy();
} finally {
  await dynamoDb.stop();
}
