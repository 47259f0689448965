import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { batchWriteAll } from '../../lambdas/adapters/dynamodb/batch-operations.js';
import { streamItems } from '../../lambdas/adapters/dynamodb/notification-log.js';
import { INBOX_STATE_MAX_IDS } from '../../lambdas/domain/inbox-service.js';
import { aNotification } from '../adapters/contracts/notification-log.contract.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken, TestClient } from '../support/ws-client.js';

/** API Gateway's limit on one WebSocket message, which the local Management API enforces too. */
const MESSAGE_LIMIT_BYTES = 128 * 1024;
/** Unread items: their ids alone (39 bytes each in the list) would make a 156 KB frame. */
const UNREAD = 4000;

/**
 * Mark-all-read on an inbox larger than one frame can list (docs/protocol.md, `inboxState`):
 * the answer and the push to the user's other window stay under API Gateway's 128 KB,
 * say that their list is partial and give the watermark instead, against DynamoDB Local
 * through the local runtime's Management API (which refuses a larger post with 413).
 */
describe('markRead all on a large inbox (local runtime, DynamoDB Local)', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it('answers and pushes a partial list under 128 KB, with truncated and the watermark, and the exact count', async () => {
    // Prepare: 4,000 unread items, one a second, written as the fan-out writes them.
    const userId = 'lena';
    const start = Date.UTC(2033, 0, 1);
    const sent = Array.from({ length: UNREAD }, (_, index) => aNotification(new Date(start + index * 1000).toISOString()));
    await batchWriteAll(
      runtime.tables.client,
      runtime.tables.tables.Notifications,
      sent.flatMap((notification) => streamItems(notification, [{ kind: 'user', userId }], 3600)).map((Item) => ({ PutRequest: { Item } })),
    );
    const open = async () => {
      const client = await TestClient.open(runtime.wsUrl, { token: await mintToken(userId) });
      clients.push(client);
      await client.next((frame) => frame.type === 'welcome');
      return client;
    };
    const phone = await open();
    const laptop = await open();
    const raw: string[] = [];
    laptop.socket.on('message', (data) => raw.push(String(data)));

    // Act
    const answer = await phone.request('markRead', { all: true });
    const pushed = await laptop.next((frame) => frame.type === 'inboxState', 15_000);

    // Assess: the answer lists the newest ids only and says so; the count is exact.
    const newest = sent
      .slice(-INBOX_STATE_MAX_IDS)
      .reverse()
      .map((notification) => notification.messageId);
    const last = sent[sent.length - 1]!;
    expect(answer).toMatchObject({ type: 'inboxState', payload: { unreadCount: 0, truncated: true, readUpTo: last.acceptedAt } });
    expect((answer.payload as { read: string[] }).read).toEqual(newest);
    expect(JSON.stringify(answer).length).toBeLessThan(MESSAGE_LIMIT_BYTES);
    // The other window got the same state through the Management API (a post over 128 KB is refused).
    expect(pushed.payload).toEqual(answer.payload);
    expect(raw.find((text) => text.includes('"inboxState"'))!.length).toBeLessThan(MESSAGE_LIMIT_BYTES);
    const inbox = await phone.request('inbox', { limit: 5, unreadOnly: true });
    expect(inbox.payload).toMatchObject({ items: [], unreadCount: 0 });
  }, 60_000);
});
