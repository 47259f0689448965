import type { IncomingMessage, ServerResponse } from 'node:http';

/**
 * `POST /{stage}/@connections/{connectionId}`. The stage names who posts: each worker
 * invocation of the fault run gets its own Management API endpoint (`.../w7`), so every
 * post is attributed from production code's own requests, without a header it cannot send.
 */
export const CONNECTIONS_PATH = /^(?:\/([^/@]+))?\/@connections\/([^/]+)\/?$/;

/** The stage of a worker invocation that is to crash: it starts with this letter. */
export const VICTIM_STAGE_PREFIX = 'v';

export interface ManagementFaults {
  /** Connections whose socket is closed: every post answers 410 Gone. */
  readonly gone: ReadonlySet<string>;
  /** Connections every post to which fails with 500 (they end up dead-lettered). */
  readonly broken: ReadonlySet<string>;
  /** Share of the other posts answered 429. */
  readonly throttleRate: number;
  /** Share of the other posts answered 500. */
  readonly serverErrorRate: number;
  /** Share of the other posts accepted, then answered only after the client's timeout. */
  readonly lateAnswerRate: number;
  /** Share of the other posts accepted, then their connection reset: the answer is lost. */
  readonly lostAnswerRate: number;
  /** Share of the other posts held unanswered until the client gives up, then accepted. */
  readonly heldRate: number;
  /** Share of the other posts answered 200 after a latency spike (within the client's timeout). */
  readonly spikeRate: number;
  /**
   * A burst of latency: from the `atPost`-th post on, for `ms`, every post that is not
   * otherwise faulted is answered after a spike, so that a chunk outlasts a short lease.
   */
  readonly spikeWindow?: { readonly atPost: number; readonly ms: number };
  /** The client's timeout (`websocket.write_timeout`): what "late" is measured against. */
  readonly writeTimeoutMs: number;
  /** The victim invocation dies once this many of its posts have arrived. */
  readonly crashAfterPosts: number;
  /** Called once, when the victim dies. */
  readonly onCrash: (stage: string, atMs: number) => void;
  /**
   * Posts of this messageId that arrive (whatever their answer) before {@link onOutage}
   * is called once: the moment a DynamoDB outage starts, mid-delivery of that notification.
   */
  readonly outageAfter?: { readonly messageId: string; readonly posts: number };
  readonly onOutage?: (atMs: number) => void;
  readonly random: () => number;
}

/** How a post was answered: the injected fault, or none. */
export type PostFault = 'late-answer' | 'lost-answer' | 'held' | 'spike';

/** One post the Management API accepted: the user got the message. */
export interface AcceptedPost {
  readonly connectionId: string;
  readonly messageId: string;
  /** Who posted it: `fanout`, `w{n}` (a worker invocation), `v{n}` (the crash victim). */
  readonly stage: string;
  /** 1 for the first post of this stage to this connection, counting every answer. */
  readonly attempt: number;
  /** When the request arrived (epoch ms): what the lease is compared with. */
  readonly receivedAtMs: number;
  /** When it was recorded as delivered (later than arrival for a held post). */
  readonly acceptedAtMs: number;
  readonly fault?: PostFault;
  /** The frame's place (docs/protocol.md section 11), as posted: what the client model is fed. */
  readonly stream?: string;
  readonly offset?: number;
  readonly epoch?: string;
}

/** A post that arrived, whatever its answer: what the lease check reads. */
export interface ArrivedPost {
  readonly connectionId: string;
  readonly stage: string;
  readonly receivedAtMs: number;
  readonly status: number | 'dropped';
}

/** Answers per kind, for the report; each injected fault counted. */
export interface ManagementAnswers {
  ok: number;
  gone: number;
  throttled: number;
  serverError: number;
  lateAnswer: number;
  lostAnswer: number;
  held: number;
  spike: number;
  /** Posts of the victim that arrived after it died: never recorded, never answered. */
  droppedAfterCrash: number;
}

/** What the Management API saw, sent back from its thread at the end of the run. */
export interface ManagementApiReport {
  readonly accepted: AcceptedPost[];
  readonly arrived: ArrivedPost[];
  readonly answeredGone: string[];
  readonly answers: ManagementAnswers;
}

/**
 * The Management API with injected faults, over loopback HTTP so the unchanged sender
 * posts to it. It records every post it accepted, per connection, with who sent it,
 * when, and which attempt: the ground truth the reconciliation counts from. The faults
 * that leave the sender not knowing the outcome all record the post first (or, for a
 * held post, once the client has given up): a retry of any of them is a duplicate.
 */
export class FaultyManagementApi {
  readonly accepted: AcceptedPost[] = [];
  readonly arrived: ArrivedPost[] = [];
  /** Connections that were answered 410. */
  readonly answeredGone = new Set<string>();
  readonly answers: ManagementAnswers = {
    ok: 0,
    gone: 0,
    throttled: 0,
    serverError: 0,
    lateAnswer: 0,
    lostAnswer: 0,
    held: 0,
    spike: 0,
    droppedAfterCrash: 0,
  };
  readonly #attempts = new Map<string, number>();
  readonly #victimPosts = new Map<string, number>();
  readonly #dead = new Set<string>();
  #posts = 0;
  #spikeUntilMs = 0;
  #outagePosts = 0;

  constructor(private readonly faults: ManagementFaults) {}

  async handle(request: IncomingMessage, response: ServerResponse, stage: string, encodedId: string): Promise<void> {
    const receivedAtMs = Date.now();
    const connectionId = decodeURIComponent(encodedId);
    const body = await readWhole(request);
    if (request.method === 'DELETE') {
      response.writeHead(204).end();
      return;
    }
    if (request.method !== 'POST') {
      response.writeHead(405).end();
      return;
    }
    const arrived = (status: number | 'dropped') => this.arrived.push({ connectionId, stage, receivedAtMs, status });
    const frame = readFrame(body);
    const outage = this.faults.outageAfter;
    if (outage && frame.messageId === outage.messageId && (this.#outagePosts += 1) === outage.posts) this.faults.onOutage?.(receivedAtMs);
    if (this.#dead.has(stage)) {
      // A dead process sends nothing: what its zombie code still writes never arrives.
      this.answers.droppedAfterCrash += 1;
      arrived('dropped');
      return;
    }
    if (stage.startsWith(VICTIM_STAGE_PREFIX)) {
      const posts = (this.#victimPosts.get(stage) ?? 0) + 1;
      this.#victimPosts.set(stage, posts);
      if (posts >= this.faults.crashAfterPosts) {
        // The victim dies with this post in flight: it is recorded below, never answered.
        this.#dead.add(stage);
        this.faults.onCrash(stage, receivedAtMs);
      }
    }
    this.#posts += 1;
    if (this.#posts === this.faults.spikeWindow?.atPost) this.#spikeUntilMs = receivedAtMs + this.faults.spikeWindow.ms;
    const key = `${stage}|${connectionId}`;
    const attempt = (this.#attempts.get(key) ?? 0) + 1;
    this.#attempts.set(key, attempt);
    if (this.faults.gone.has(connectionId)) {
      this.answeredGone.add(connectionId);
      this.answers.gone += 1;
      arrived(410);
      return answer(response, 410, 'GoneException', 'Gone');
    }
    if (this.faults.broken.has(connectionId)) {
      this.answers.serverError += 1;
      arrived(500);
      return answer(response, 500, 'InternalServerErrorException', 'Internal server error');
    }
    const { throttleRate, serverErrorRate, lateAnswerRate, lostAnswerRate, heldRate, spikeRate, writeTimeoutMs } = this.faults;
    const draw = this.faults.random();
    let bound = throttleRate;
    if (draw < bound) {
      this.answers.throttled += 1;
      arrived(429);
      return answer(response, 429, 'LimitExceededException', 'Too Many Requests');
    }
    if (draw < (bound += serverErrorRate)) {
      this.answers.serverError += 1;
      arrived(500);
      return answer(response, 500, 'InternalServerErrorException', 'Internal server error');
    }
    arrived(200);
    const { messageId = '(none)', stream, offset, epoch } = frame;
    const place = typeof stream === 'string' && typeof offset === 'number' && typeof epoch === 'string' ? { stream, offset, epoch } : {};
    const record = (fault: PostFault | undefined, acceptedAtMs = receivedAtMs) =>
      this.accepted.push({ connectionId, messageId, stage, attempt, receivedAtMs, acceptedAtMs, ...(fault ? { fault } : {}), ...place });
    if (this.#dead.has(stage)) {
      // The post that killed the victim: it reached API Gateway, the victim never learns it.
      record(undefined);
      return;
    }
    if (draw < (bound += lateAnswerRate)) {
      this.answers.lateAnswer += 1;
      record('late-answer');
      setTimeout(() => ok(response), writeTimeoutMs + 250);
      return;
    }
    if (draw < (bound += lostAnswerRate)) {
      this.answers.lostAnswer += 1;
      record('lost-answer');
      request.socket.destroy();
      return;
    }
    if (draw < (bound += heldRate)) {
      this.answers.held += 1;
      // Accepted only once the client has given up on it (or, if it never does, at last).
      let done = false;
      const accept = () => {
        if (done) return;
        done = true;
        clearTimeout(last);
        record('held', Date.now());
        if (!response.destroyed) ok(response);
      };
      const last = setTimeout(accept, 4 * writeTimeoutMs);
      response.once('close', accept);
      return;
    }
    if (draw < (bound += spikeRate) || receivedAtMs < this.#spikeUntilMs) {
      this.answers.spike += 1;
      record('spike');
      setTimeout(() => ok(response), Math.round(writeTimeoutMs * (0.3 + 0.5 * this.faults.random())));
      return;
    }
    this.answers.ok += 1;
    record(undefined);
    ok(response);
  }

  report(): ManagementApiReport {
    return { accepted: this.accepted, arrived: this.arrived, answeredGone: [...this.answeredGone], answers: this.answers };
  }
}

/** What the ground truth reads of a posted frame: its messageId and place. */
function readFrame(body: string): { messageId?: string; stream?: unknown; offset?: unknown; epoch?: unknown } {
  try {
    const frame = JSON.parse(body) as unknown;
    return typeof frame === 'object' && frame !== null ? (frame as { messageId?: string }) : {};
  } catch {
    return {};
  }
}

async function readWhole(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function ok(response: ServerResponse): void {
  if (response.destroyed) return;
  response.writeHead(200, { 'Content-Length': 0 }).end();
}

function answer(response: ServerResponse, status: number, errorType: string, message: string): void {
  const text = JSON.stringify({ message });
  response.writeHead(status, { 'Content-Type': 'application/json', 'x-amzn-ErrorType': errorType, 'Content-Length': Buffer.byteLength(text) });
  response.end(text);
}
