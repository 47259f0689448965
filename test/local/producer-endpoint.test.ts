import { KafkaMskEventSchema } from '@aws-lambda-powertools/parser/schemas';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../lambdas/config/load.js';
import { startEmulator, type Emulator } from './emulator-harness.js';

let emulator: Emulator | undefined;
afterEach(async () => {
  await emulator?.runtime.stop();
  emulator = undefined;
});

async function produce(topicPath: string, body: string, contentType = 'application/json') {
  const response = await fetch(`${emulator!.runtime.httpUrl}/_local/topics/${topicPath}`, {
    method: 'POST',
    headers: { 'content-type': contentType },
    body,
  });
  return { status: response.status, body: (await response.json()) as unknown };
}

const decodeBase64 = (value: string) => Buffer.from(value, 'base64').toString('utf8');

describe('local runtime: producer endpoint', () => {
  it('wraps one record value into an MSK event as Lambda does, and answers with the fan-out result', async () => {
    emulator = await startEmulator();
    const record = { type: 'notification', payload: { title: 'Booking Confirmed' }, targetUserId: 'bob' };

    const answer = await produce('booking-updates?key=booking-123', JSON.stringify(record));
    const [event] = emulator.recorder.of('Fanout');

    expect(answer).toEqual({ status: 200, body: { records: 1 } });
    const parsed = KafkaMskEventSchema.parse(event);
    expect(parsed.eventSource).toBe('aws:kafka');
    expect(event.eventSourceArn).toMatch(/^arn:aws:kafka:us-east-1:000000000000:cluster\/local\//);
    expect(Object.keys(event.records)).toEqual(['booking-updates-0']);
    const [delivered] = event.records['booking-updates-0'];
    expect(delivered).toMatchObject({ topic: 'booking-updates', partition: 0, offset: 0, timestampType: 'CREATE_TIME', headers: [] });
    expect(typeof delivered.timestamp).toBe('number');
    expect(JSON.parse(decodeBase64(delivered.value))).toEqual(record);
    expect(decodeBase64(delivered.key)).toBe('booking-123');
    expect(parsed.records['booking-updates-0']![0]!.key).toBe('booking-123');
  });

  it('turns a JSON array into one record per element, with increasing offsets across requests', async () => {
    emulator = await startEmulator();

    await produce('booking-updates', JSON.stringify([{ n: 1 }, { n: 2 }]));
    await produce('booking-updates', JSON.stringify({ n: 3 }));
    await produce('booking-updates?partition=2', JSON.stringify({ n: 4 }));
    const events = emulator.recorder.of('Fanout');

    for (const event of events) KafkaMskEventSchema.parse(event);
    const first = events[0].records['booking-updates-0'];
    expect(first.map((record: { value: string }) => JSON.parse(decodeBase64(record.value)))).toEqual([{ n: 1 }, { n: 2 }]);
    expect(first.map((record: { offset: number }) => record.offset)).toEqual([0, 1]);
    expect(first[0]).not.toHaveProperty('key');
    expect(events[1].records['booking-updates-0'][0].offset).toBe(2);
    // Each partition is its own log.
    expect(events[2].records['booking-updates-2'][0]).toMatchObject({ partition: 2, offset: 0 });
  });

  it('delivers a body that is not JSON as one raw record, also as text/plain', async () => {
    emulator = await startEmulator();

    const answer = await produce('booking-updates', '{"type": "notification", oops', 'text/plain');
    const [event] = emulator.recorder.of('Fanout');

    expect(answer.status).toBe(200);
    expect(decodeBase64(event.records['booking-updates-0'][0].value)).toBe('{"type": "notification", oops');
  });

  it('refuses a topic the fan-out does not consume', async () => {
    emulator = await startEmulator({}, { config: parseConfig({ notification_service: { kafka: { topics: ['alerts'] } } }) });

    const refused = await produce('booking-updates', '{}');
    const accepted = await produce('alerts', '{}');

    expect(refused.status).toBe(404);
    expect((refused.body as { message: string }).message).toContain('kafka.topics is [alerts]');
    expect(accepted.status).toBe(200);
  });

  it('answers 500 with the error when the fan-out fails', async () => {
    emulator = await startEmulator({
      Fanout: async () => {
        throw new Error('table missing');
      },
    });

    const answer = await produce('booking-updates', '{}');

    expect(answer.status).toBe(500);
    expect(answer.body).toMatchObject({ errorType: 'Error', errorMessage: 'table missing' });
  });
});
