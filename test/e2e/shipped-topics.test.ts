import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfigFile } from '../../lambdas/config/load.js';
import { SYSTEM_ANNOUNCEMENTS } from '../../protocol/channels.js';
import { notificationRecord } from '../support/records.js';
import { startTestRuntime, type TestRuntime } from '../support/runtime.js';
import { TestClient } from '../support/ws-client.js';

const shipped = loadConfigFile(fileURLToPath(new URL('../../Config.toml', import.meta.url))).notification_service;
/** The channels of the original module (/work/shared/seed/websocket-module.md, "Channels"). */
const SEED_CHANNELS = ['booking-updates', 'waitlist-notifications', SYSTEM_ANNOUNCEMENTS];

/**
 * Issue 10, part 8: with the shipped Config.toml, a producer reaches every channel of the
 * original module through its topic, and a subscriber receives the record. Runs the
 * local runtime with that configuration as it is (only the token secret is the tests').
 */
describe('shipped topics', () => {
  let runtime: TestRuntime;
  const clients: TestClient[] = [];

  beforeAll(async () => {
    runtime = await startTestRuntime(shipped);
  });

  afterAll(async () => {
    await Promise.all(clients.map((client) => client.close().catch(() => {})));
    await runtime?.stop();
  });

  it('consumes a topic for each seed channel', () => {
    expect(shipped.kafka.topics).toEqual(expect.arrayContaining(SEED_CHANNELS));
  });

  it.each(shipped.kafka.topics)('delivers a record published to %s, without a target, to a subscriber of its channel', async (topic) => {
    // Prepare: a listener that subscribes (the automatic channels need no subscribe).
    const channel = shipped.kafka.topic_channels[topic] ?? topic;
    const { client } = await TestClient.connect(runtime.wsUrl, `listener-${topic}`);
    clients.push(client);
    const subscribed = await client.request('subscribe', { channels: [channel] });
    expect(subscribed.payload).toMatchObject({ rejected: [] });
    const record = notificationRecord();

    // Act
    const published = await runtime.publish(topic, record);

    // Assess
    expect(published.status).toBe(200);
    expect(await client.next((frame) => frame.type === 'notification' && frame.messageId === record.messageId)).toMatchObject({
      channel,
      payload: record.payload,
    });
  });

  it('delivers system-announcements to a connection that never subscribed', async () => {
    // Prepare
    const { client } = await TestClient.connect(runtime.wsUrl, 'never-subscribed');
    clients.push(client);
    const record = notificationRecord();

    // Act
    await runtime.publish(SYSTEM_ANNOUNCEMENTS, record);

    // Assess
    expect(await client.next((frame) => frame.type === 'notification' && frame.messageId === record.messageId)).toMatchObject({
      channel: SYSTEM_ANNOUNCEMENTS,
    });
  });

  it('lets a record name its own target whatever its topic', async () => {
    // Prepare
    const { client } = await TestClient.connect(runtime.wsUrl, 'waiting-user');
    clients.push(client);
    const record = notificationRecord({ targetUserId: 'waiting-user' });

    // Act
    await runtime.publish('waitlist-notifications', record);

    // Assess
    expect(await client.next((frame) => frame.type === 'notification' && frame.messageId === record.messageId)).toMatchObject({
      targetUserId: 'waiting-user',
    });
  });
});
