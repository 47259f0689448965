import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody } from '../../local/http-messages.js';

/** `POST /@connections/{connectionId}` under any stage prefix. */
export const CONNECTIONS_PATH = /^(?:\/[^/@]+)?\/@connections\/([^/]+)\/?$/;

export interface ManagementFaults {
  /** Connections whose socket is closed: every post answers 410 Gone. */
  readonly gone: ReadonlySet<string>;
  /** Connections every post to which fails with 500 (they end up dead-lettered). */
  readonly broken: ReadonlySet<string>;
  /** Share of the other posts answered 429. */
  readonly throttleRate: number;
  /** Share of the other posts answered 500. */
  readonly serverErrorRate: number;
  readonly random: () => number;
}

/** Answers per status, for the report. */
export interface ManagementAnswers {
  ok: number;
  gone: number;
  throttled: number;
  serverError: number;
}

/**
 * The Management API with injected faults, over loopback HTTP so the unchanged SDK
 * client posts to it. It records every post it accepted, per connection and messageId:
 * the ground truth the reconciliation counts deliveries and duplicates from.
 */
export class FaultyManagementApi {
  /** connectionId -> messageIds accepted, in arrival order (a repeat is a duplicate). */
  readonly accepted = new Map<string, string[]>();
  /** Connections that were answered 410. */
  readonly answeredGone = new Set<string>();
  readonly answers: ManagementAnswers = { ok: 0, gone: 0, throttled: 0, serverError: 0 };

  constructor(private readonly faults: ManagementFaults) {}

  async handle(request: IncomingMessage, response: ServerResponse, encodedId: string): Promise<void> {
    const connectionId = decodeURIComponent(encodedId);
    const body = (await readBody(request)).toString('utf8');
    if (request.method === 'DELETE') {
      response.writeHead(204).end();
      return;
    }
    if (request.method !== 'POST') {
      response.writeHead(405).end();
      return;
    }
    if (this.faults.gone.has(connectionId)) {
      this.answeredGone.add(connectionId);
      this.answers.gone += 1;
      return answer(response, 410, 'GoneException', 'Gone');
    }
    if (this.faults.broken.has(connectionId)) {
      this.answers.serverError += 1;
      return answer(response, 500, 'InternalServerErrorException', 'Internal server error');
    }
    const draw = this.faults.random();
    if (draw < this.faults.throttleRate) {
      this.answers.throttled += 1;
      return answer(response, 429, 'LimitExceededException', 'Too Many Requests');
    }
    if (draw < this.faults.throttleRate + this.faults.serverErrorRate) {
      this.answers.serverError += 1;
      return answer(response, 500, 'InternalServerErrorException', 'Internal server error');
    }
    const messageId = (JSON.parse(body) as { messageId?: string }).messageId ?? '(none)';
    const list = this.accepted.get(connectionId) ?? [];
    list.push(messageId);
    this.accepted.set(connectionId, list);
    this.answers.ok += 1;
    response.writeHead(200, { 'Content-Length': 0 }).end();
  }
}

function answer(response: ServerResponse, status: number, errorType: string, message: string): void {
  const text = JSON.stringify({ message });
  response.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': errorType, 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}
