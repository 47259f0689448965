import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { ServerFrame } from '../../protocol/frames.js';
import { Requests, type RequestTarget } from '../../client/requests.js';

/** A connection stand-in that records what was sent and can be closed. */
class FakeTarget implements RequestTarget {
  readonly sent: { messageId: string; type: string; payload: unknown }[] = [];
  open = true;

  send(frame: Record<string, unknown>): boolean {
    if (!this.open) return false;
    this.sent.push(frame as FakeTarget['sent'][number]);
    return true;
  }
}

const answer = (replyTo: string, type = 'heartbeat', payload: unknown = {}): ServerFrame =>
  ({ messageId: randomUUID(), timestamp: new Date().toISOString(), replyTo, type, payload }) as ServerFrame;

describe('Requests', () => {
  it('settles a request by the frame whose replyTo is its messageId, and an error frame rejects with its code', async () => {
    const requests = new Requests();
    const target = new FakeTarget();
    const first = requests.sendOn(target, 'heartbeat', {}, 1_000);
    const second = requests.sendOn(target, 'stats', {}, 1_000);

    expect(requests.settle(answer(randomUUID()))).toBe(false);
    expect(requests.settle(answer(target.sent[1]!.messageId, 'error', { code: 'FORBIDDEN', message: 'admin only' }))).toBe(true);
    expect(requests.settle(answer(target.sent[0]!.messageId))).toBe(true);

    await expect(first).resolves.toMatchObject({ type: 'heartbeat', replyTo: target.sent[0]!.messageId });
    await expect(second).rejects.toMatchObject({ code: 'FORBIDDEN', details: { request: 'stats' } });
  });

  it('queues until flushed, and sends a resend request again on the next connection when its own closes first', async () => {
    const requests = new Requests();
    const lost = new FakeTarget();
    const resent = requests.enqueue('subscribe', { channels: ['a'] }, { resend: true, timeoutMs: 1_000 });
    const notResent = requests.enqueue('heartbeat', {}, { resend: false, timeoutMs: 1_000 });
    requests.flush(lost);
    lost.open = false;

    requests.targetClosed(lost, 1006, false);
    const next = new FakeTarget();
    requests.flush(next);
    requests.settle(answer(next.sent[0]!.messageId, 'subscription', { connectionId: 'c', channels: ['a'], accepted: ['a'], rejected: [] }));

    expect(lost.sent.map((frame) => frame.type)).toEqual(['subscribe', 'heartbeat']);
    expect(next.sent.map((frame) => frame.type)).toEqual(['subscribe']);
    expect(next.sent[0]!.messageId).not.toBe(lost.sent[0]!.messageId);
    await expect(resent).resolves.toMatchObject({ type: 'subscription' });
    await expect(notResent).rejects.toMatchObject({ code: 'CONNECTION_LOST', message: 'the connection closed (1006) before the answer' });
  });

  it('rejects what is in flight with CLOSED, and what is queued, when the client closes', async () => {
    const requests = new Requests();
    const target = new FakeTarget();
    const inFlight = requests.enqueue('inbox', {}, { resend: true, timeoutMs: 1_000 });
    requests.flush(target);
    const queued = requests.enqueue('markRead', { all: true }, { resend: true, timeoutMs: 1_000 });

    requests.targetClosed(target, 1000, true);
    requests.rejectQueued(() => new Error('closed') as never);

    await expect(inFlight).rejects.toMatchObject({ code: 'CLOSED' });
    await expect(queued).rejects.toThrow('closed');
  });

  it('rejects TIMEOUT when no answer comes in time, and a late answer then settles nothing', async () => {
    const requests = new Requests();
    const target = new FakeTarget();

    await expect(requests.sendOn(target, 'heartbeat', {}, 20)).rejects.toMatchObject({ code: 'TIMEOUT', message: 'no answer to heartbeat within 20 ms' });
    expect(requests.settle(answer(target.sent[0]!.messageId))).toBe(false);
  });

  it('rejects CONNECTION_LOST at once for a target already closed', async () => {
    const target = new FakeTarget();
    target.open = false;

    await expect(new Requests().sendOn(target, 'heartbeat', {}, 1_000)).rejects.toMatchObject({ code: 'CONNECTION_LOST' });
  });
});
