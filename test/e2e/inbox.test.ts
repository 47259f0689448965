import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotificationService } from '../../lambdas/index.js';
import { notificationPayload } from '../../protocol/frames.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { mintToken, TestClient } from '../support/ws-client.js';

/**
 * The inbox end to end through the local runtime (route table, handlers, DynamoDB Local,
 * real sockets): the "done when" walk and the library's listInbox / markRead.
 */
describe('inbox (local runtime)', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  const open = async (userId: string) => {
    const client = await TestClient.open(runtime.wsUrl, { token: await mintToken(userId) });
    clients.push(client);
    const welcome = await client.next((frame) => frame.type === 'welcome');
    return { client, welcome: welcome.payload as { unreadCount?: number } };
  };

  beforeAll(async () => {
    runtime = await startTestRuntime({ kafka: { topics: ['booking-updates'] } });
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it('three sent while offline: welcome says 3, inbox lists them, a read in one window drops the other to 2', async () => {
    const service = createNotificationService(process.env);
    // Three notifications, three notificationIds: without a messageId, one is the duplicate key.
    for (let index = 0; index < 3; index++) await service.sendNotificationToUser('ines', notificationPayload.parse(notificationRecord().payload));

    const phone = await open('ines');
    const laptop = await open('ines');
    expect(phone.welcome.unreadCount).toBe(3);
    expect(laptop.welcome.unreadCount).toBe(3);

    const inbox = await phone.client.request('inbox', { limit: 10 });
    expect(inbox).toMatchObject({ type: 'inbox', payload: { unreadCount: 3 } });
    const items = (inbox.payload as { items: { messageId: string; read: boolean }[] }).items;
    expect(items).toHaveLength(3);

    const state = await phone.client.request('markRead', { messageIds: [items[0]!.messageId] });
    expect(state).toMatchObject({ type: 'inboxState', payload: { unreadCount: 2, read: [items[0]!.messageId] } });
    const pushed = await laptop.client.next((frame) => frame.type === 'inboxState');
    expect(pushed).toMatchObject({ payload: { unreadCount: 2, read: [items[0]!.messageId] } });
    expect(pushed.replyTo).toBeUndefined();
  });

  it('gives backends listInbox and markRead with the same rules, telling every connection of the user', async () => {
    const service = createNotificationService(process.env);
    await service.sendNotificationToUser('jon', notificationPayload.parse(notificationRecord().payload));
    await service.sendNotificationToUser('jon', notificationPayload.parse(notificationRecord().payload));
    const { client } = await open('jon');

    const page = await service.listInbox('jon', { limit: 1 });
    expect(page.items).toHaveLength(1);
    expect(page.unreadCount).toBe(2);
    expect(page.nextCursor).toEqual(expect.any(String));
    const state = await service.markRead('jon', 'all');

    expect(state.unreadCount).toBe(0);
    expect(state.read).toHaveLength(2);
    expect(await client.next((frame) => frame.type === 'inboxState')).toMatchObject({ payload: { unreadCount: 0 } });
    await expect(service.listInbox('jon', { limit: 0 })).rejects.toThrow();
    await expect(service.markRead('jon', ['not-a-uuid'])).rejects.toThrow();
    await expect(service.listInbox('jon', { before: 'bogus' })).rejects.toThrow(/nextCursor/);
  });
});
