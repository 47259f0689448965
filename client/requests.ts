import type { ClientRequestType, ServerFrame } from '../protocol/frames.js';
import { NotificationClientError } from './errors.js';
import { newMessageId } from './message-id.js';

/** Where a request is sent: one connection. */
export interface RequestTarget {
  /** Sends one frame; false when the connection is no longer open. */
  send(frame: Record<string, unknown>): boolean;
}

interface PendingRequest {
  readonly type: ClientRequestType;
  readonly payload: Record<string, unknown>;
  /** Sent again on the next connection when its own drops before the answer (user requests); else rejected. */
  readonly resend: boolean;
  readonly timeoutMs: number;
  readonly resolve: (frame: ServerFrame) => void;
  readonly reject: (error: NotificationClientError) => void;
  target?: RequestTarget;
  timer?: ReturnType<typeof setTimeout>;
}

/**
 * Request correlation: each request goes out with a fresh `messageId` and is settled by
 * the frame whose `replyTo` is that id, or rejected `TIMEOUT`. Requests made while no
 * connection is open wait in a queue; those marked `resend` are queued again when their
 * connection drops before the answer, the others are rejected.
 */
export class Requests {
  readonly #queue: PendingRequest[] = [];
  readonly #inFlight = new Map<string, PendingRequest>();

  /** Sends now through `target`; rejects `CONNECTION_LOST` when it is closed. */
  sendOn(target: RequestTarget, type: ClientRequestType, payload: Record<string, unknown>, timeoutMs: number): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      const request: PendingRequest = { type, payload, resend: false, timeoutMs, resolve, reject };
      if (!this.#send(request, target)) reject(new NotificationClientError('CONNECTION_LOST', 'the connection is closed'));
    });
  }

  /** Queues a request for the next {@link flush}; with `resend`, it survives the loss of its connection. */
  enqueue(type: ClientRequestType, payload: Record<string, unknown>, options: { resend: boolean; timeoutMs: number }): Promise<ServerFrame> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ type, payload, resend: options.resend, timeoutMs: options.timeoutMs, resolve, reject });
    });
  }

  /** Sends the queued requests, in order, through `target` while it stays open. */
  flush(target: RequestTarget): void {
    while (this.#queue.length > 0) {
      if (!this.#send(this.#queue[0]!, target)) return;
      this.#queue.shift();
    }
  }

  /**
   * Settles the request `frame` answers: an `error` frame rejects it with its code, any
   * other frame resolves it. False when the frame answers no request in flight.
   */
  settle(frame: ServerFrame): boolean {
    const request = frame.replyTo === undefined ? undefined : this.#inFlight.get(frame.replyTo);
    if (!request) return false;
    clearTimeout(request.timer);
    this.#inFlight.delete(frame.replyTo!);
    if (frame.type === 'error') request.reject(new NotificationClientError(frame.payload.code, frame.payload.message, { request: request.type }));
    else request.resolve(frame);
    return true;
  }

  /**
   * `target` closed (with `code`): its unanswered requests go back to the front of the
   * queue when marked `resend` and the client is not closing; the others are rejected.
   */
  targetClosed(target: RequestTarget, code: number, closing: boolean): void {
    const resend: PendingRequest[] = [];
    for (const [messageId, request] of this.#inFlight) {
      if (request.target !== target) continue;
      clearTimeout(request.timer);
      this.#inFlight.delete(messageId);
      if (request.resend && !closing) resend.push(request);
      else request.reject(new NotificationClientError(closing ? 'CLOSED' : 'CONNECTION_LOST', `the connection closed (${code}) before the answer`));
    }
    for (const request of resend) request.target = undefined;
    this.#queue.unshift(...resend);
  }

  /** Rejects every queued request (those in flight end with their connection). */
  rejectQueued(error: () => NotificationClientError): void {
    for (const request of this.#queue.splice(0)) request.reject(error());
  }

  #send(request: PendingRequest, target: RequestTarget): boolean {
    const messageId = newMessageId();
    if (!target.send({ messageId, type: request.type, payload: request.payload, timestamp: new Date().toISOString() })) return false;
    request.target = target;
    request.timer = setTimeout(() => {
      this.#inFlight.delete(messageId);
      request.reject(new NotificationClientError('TIMEOUT', `no answer to ${request.type} within ${request.timeoutMs} ms`));
    }, request.timeoutMs);
    this.#inFlight.set(messageId, request);
    return true;
  }
}
