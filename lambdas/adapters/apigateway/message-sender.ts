import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { doesIdentityRequireRefresh, isIdentityExpired, memoizeIdentityProvider } from '@smithy/core';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { ConnectionGoneError, NotificationServiceError, PostInDoubtError, ThrottledError, TransientError } from '../../domain/errors.js';
import type { MessageSender, PostOptions } from '../../domain/ports.js';
import { fullJitterDelayMs, realSleep } from '../../domain/retry.js';
import { classifyAwsError, describeAwsError } from '../aws-errors.js';

export interface ApiGatewayMessageSenderProps {
  /**
   * The stage's Management API: `https://{api}.execute-api.{region}.amazonaws.com/{stage}`
   * in AWS, the local runtime's `http://` URL on a laptop.
   */
  readonly endpoint: string;
  /**
   * Most requests in flight at once: the keep-alive agent holds this many sockets, so
   * it should be the caller's concurrency (a smaller agent queues posts inside itself).
   */
  readonly maxSockets: number;
  /**
   * A request not answered within this many milliseconds is given up: a TransientError if
   * it never left (no socket, still connecting), a PostInDoubtError once it may have been
   * written.
   */
  readonly requestTimeoutMs: number;
  /**
   * Attempts per call: throttling and failures known not to have delivered (answered
   * 5xx, the request never left) are retried with exponential backoff and full jitter, as
   * the SDK's standard retry mode does; a post in doubt never is. The fan-out retries
   * itself, within its time budget, and wants 1.
   * @default 1
   */
  readonly attempts?: number;
  /** @default - the region in an execute-api host name, else AWS_REGION, else us-east-1 (the local runtime does not check signatures). */
  readonly region?: string;
  /**
   * Memoized as every SDK client memoizes its `credentials`: fetched once, again when
   * within 5 minutes of expiry, one fetch for concurrent callers.
   * @default - the SDK's default provider chain (`defaultProvider`), which caches and refreshes itself
   */
  readonly credentials?: AwsCredentialIdentityProvider;
}

/**
 * An answer of the Management API other than 2xx: what the error mapping reads. Shaped
 * as the SDK's service exceptions are (`name`, `$metadata.httpStatusCode`), so the shared
 * classification (../aws-errors.ts) reads it as it reads theirs.
 */
export class ManagementApiResponseError extends Error {
  readonly $metadata: { readonly httpStatusCode: number };

  constructor(
    readonly status: number,
    /** `x-amzn-ErrorType` (or the body's `__type`), without its namespace: `GoneException`, `LimitExceededException`. */
    readonly errorType: string | undefined,
    message: string,
  ) {
    super(message);
    this.name = errorType ?? 'ManagementApiResponseError';
    this.$metadata = { httpStatusCode: status };
  }
}

/** The request was not answered within its deadline (`requestTimeoutMs`, or less when the caller asked). */
export class ManagementApiTimeoutError extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly timeoutMs: number) {
    super(`no answer within ${timeoutMs} ms`);
    this.name = 'TimeoutError';
  }
}

// The SDK's standard retry mode: 100 ms base, 20 s cap, full jitter.
const RETRY_BASE_DELAY_MS = 100;
const RETRY_MAX_DELAY_MS = 20_000;

// An error answer is a short JSON document; more than this is not worth reading.
const MAX_ERROR_BODY_BYTES = 16 * 1024;

const EXECUTE_API_HOST = /^[^.]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$/;

/**
 * {@link MessageSender} over the API Gateway Management API (`@connections`): each
 * request is signed with SigV4 (`@smithy/signature-v4`, service `execute-api`, the SDK's
 * default credentials) and sent through `node:https` (or `node:http` for the local
 * runtime) on a keep-alive agent of `maxSockets` sockets. It does what the SDK client's
 * PostToConnection / DeleteConnection do on the wire, for about a seventh of the CPU
 * (docs/benchmarks.md, B1): the fan-out's throughput is bounded by CPU per post.
 * Answers are translated into the domain's errors, so callers decide on retries and
 * removals without knowing HTTP. A failure is classified by whether the request may have
 * left: before its socket connected it is a TransientError (retried), after it any failure
 * without an answer is a PostInDoubtError (never posted again, the caller counts it).
 */
export class ApiGatewayMessageSender implements MessageSender {
  readonly #hostname: string;
  readonly #port: number | undefined;
  readonly #protocol: 'http:' | 'https:';
  readonly #hostHeader: string;
  readonly #basePath: string;
  readonly #send: typeof httpRequest;
  readonly #agent: HttpAgent;
  readonly #signer: SignatureV4;
  readonly #timeoutMs: number;
  readonly #attempts: number;

  constructor(props: ApiGatewayMessageSenderProps) {
    const url = new URL(props.endpoint);
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RangeError(`Management API endpoint must be an http(s) URL, got ${props.endpoint}`);
    }
    for (const [name, value] of [
      ['maxSockets', props.maxSockets],
      ['attempts', props.attempts ?? 1],
    ] as const) {
      if (!Number.isInteger(value) || value < 1) throw new RangeError(`${name} must be a positive integer, got ${value}`);
    }
    if (!(props.requestTimeoutMs > 0)) throw new RangeError(`requestTimeoutMs must be positive, got ${props.requestTimeoutMs}`);
    this.#protocol = url.protocol;
    this.#hostname = url.hostname;
    this.#port = url.port === '' ? undefined : Number(url.port);
    this.#hostHeader = url.host;
    this.#basePath = url.pathname.replace(/\/+$/, '');
    const agentOptions = { keepAlive: true, maxSockets: props.maxSockets };
    this.#agent = url.protocol === 'https:' ? new HttpsAgent(agentOptions) : new HttpAgent(agentOptions);
    this.#send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    this.#timeoutMs = props.requestTimeoutMs;
    this.#attempts = props.attempts ?? 1;
    this.#signer = new SignatureV4({
      service: 'execute-api',
      region: props.region ?? regionOfEndpoint(url) ?? process.env.AWS_REGION ?? 'us-east-1',
      credentials: signingCredentials(props.credentials),
      sha256: Hash.bind(null, 'sha256'),
    });
  }

  async post(connectionId: string, data: string, options?: PostOptions): Promise<void> {
    await this.#call('POST', connectionId, Buffer.from(data, 'utf8'), 'post to', options?.timeoutMs);
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.#call('DELETE', connectionId, undefined, 'close', undefined);
    } catch (error) {
      // Closing a socket that is already closed has reached its goal.
      if (error instanceof ConnectionGoneError) return;
      throw error;
    }
  }

  /** Closes the agent's idle sockets; a sender is otherwise kept for the process's life. */
  destroy(): void {
    this.#agent.destroy();
  }

  async #call(method: 'POST' | 'DELETE', connectionId: string, body: Buffer | undefined, action: string, callerTimeoutMs: number | undefined): Promise<void> {
    if (Number.isNaN(callerTimeoutMs)) throw new RangeError('timeoutMs must be a number of milliseconds, got NaN');
    // The caller's deadline covers the whole call, retries and backoff included.
    const deadline = callerTimeoutMs === undefined ? Infinity : performance.now() + callerTimeoutMs;
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.#request(method, connectionId, body, deadline);
        return;
      } catch (error) {
        let translated = error instanceof NotificationServiceError ? error : toDomainError(error, connectionId, action, false);
        // DELETE is idempotent: closing twice cannot do harm, so an unknown outcome is retried.
        if (method === 'DELETE' && translated instanceof PostInDoubtError) {
          translated = new TransientError(`Management API did not answer the ${action} connection ${connectionId}`, { cause: translated.cause });
        }
        // A PostInDoubtError is not among these: posting it again may deliver it twice.
        const retryable = translated instanceof ThrottledError || translated instanceof TransientError;
        if (!retryable || attempt >= this.#attempts) throw translated;
        const delayMs = fullJitterDelayMs(attempt - 1, RETRY_BASE_DELAY_MS, RETRY_MAX_DELAY_MS);
        if (performance.now() + delayMs >= deadline) throw translated;
        await realSleep(delayMs);
      }
    }
  }

  /** One attempt; rejects with a domain error, classified by whether the request may have left. */
  async #request(method: 'POST' | 'DELETE', connectionId: string, body: Buffer | undefined, deadline: number): Promise<void> {
    const action = method === 'POST' ? 'post to' : 'close';
    const path = `${this.#basePath}/@connections/${encodePathLabel(connectionId)}`;
    const headers: Record<string, string> = { host: this.#hostHeader };
    if (body) {
      headers['content-type'] = 'application/octet-stream';
      headers['content-length'] = String(body.length);
    }
    const signed = await this.#signer.sign({
      method,
      protocol: this.#protocol,
      hostname: this.#hostname,
      ...(this.#port === undefined ? {} : { port: this.#port }),
      path,
      query: {},
      headers,
      ...(body ? { body } : {}),
    });
    // Measured after signing, which may have waited for credentials.
    const timeoutMs = Math.floor(Math.min(this.#timeoutMs, deadline - performance.now()));
    if (timeoutMs <= 0) throw new TransientError(`no time left to ${action} connection ${connectionId}; the request was not sent`);
    return new Promise<void>((resolve, reject) => {
      // Whether any byte of the request may have reached API Gateway. The bytes are handed
      // to the socket as soon as it is assigned, but a socket still connecting only
      // buffers them: they leave once it has connected (TLS: once the handshake is done),
      // or at once on a kept-alive socket. From then on the outcome is unknown until an
      // answer arrives. Conservative: we do not wait for 'finish' (fully written), since
      // API Gateway may act on a request whose last bytes we never saw leave.
      let mayHaveLeft = false;
      let settled = false;
      const outgoing = this.#send({
        agent: this.#agent,
        hostname: this.#hostname,
        port: this.#port,
        method,
        path,
        headers: signed.headers,
      });
      // The deadline is checked again where the bytes would leave: a process that stalled
      // (a busy event loop, a frozen sandbox) resumes with this request's write still
      // queued, and its deadline (the caller's lease) may be past by then. Refused there,
      // the request never left: not in doubt.
      const tooLate = () => performance.now() >= deadline;
      const refuse = () => {
        const late = new TransientError(`the deadline to ${action} connection ${connectionId} passed before the request could leave; it was not sent`);
        settle(late);
        outgoing.destroy(late);
      };
      outgoing.on('socket', (socket: Socket) => {
        // A kept-alive socket: the request is written to it right after this event.
        if (!socket.connecting) {
          if (tooLate()) refuse();
          else mayHaveLeft = true;
          return;
        }
        // A socket still connecting buffers the request; hold it until we know it is in time.
        socket.cork();
        socket.once(socket instanceof TLSSocket ? 'secureConnect' : 'connect', () => {
          if (tooLate()) return refuse();
          mayHaveLeft = true;
          socket.uncork();
        });
      });
      const settle = (error?: unknown) => {
        if (settled) return;
        settled = true;
        if (error === undefined) resolve();
        else reject(toDomainError(error, connectionId, action, mayHaveLeft));
      };
      // A deadline for the whole exchange, not an idle-socket timeout: a Management API
      // that trickles its answer still fails within write_timeout. Settled here, not on
      // the request's 'error': a request still queued in the agent reports its destruction
      // only once a socket frees up, which may be long after the deadline.
      const timer = setTimeout(() => {
        const timeout = new ManagementApiTimeoutError(timeoutMs);
        settle(timeout);
        outgoing.destroy(timeout);
      }, timeoutMs);
      outgoing.on('error', (error) => {
        clearTimeout(timer);
        settle(error);
      });
      outgoing.on('response', (response) => {
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          // The status line is API Gateway's word that it took the message: delivered,
          // even if the rest of the answer is lost. The timer stays until the end, so a
          // trickling body still frees its socket.
          settle();
          response.on('error', () => clearTimeout(timer));
          response.on('end', () => clearTimeout(timer));
          response.resume();
          return;
        }
        const finish = (answer: unknown) => {
          clearTimeout(timer);
          settle(answer);
        };
        readErrorAnswer(response, status).then(finish, finish);
      });
      outgoing.end(body);
    });
  }
}

/**
 * What the signer asks before every request, so it must answer from memory: the default
 * chain caches and refreshes itself; an injected provider is memoized as SDK clients
 * memoize their `credentials` (`memoizeIdentityProvider`).
 */
function signingCredentials(provider: AwsCredentialIdentityProvider | undefined): AwsCredentialIdentityProvider {
  if (!provider) return defaultProvider();
  return memoizeIdentityProvider(provider, isIdentityExpired, doesIdentityRequireRefresh) ?? provider;
}

/** The region in an `execute-api` host name; undefined for any other host (a custom domain, the local runtime). */
export function regionOfEndpoint(url: URL): string | undefined {
  return EXECUTE_API_HOST.exec(url.hostname)?.[1];
}

/** The label as the SDK's serializer encodes it (RFC 3986: `!'()*` too); SigV4 encodes the path once more. */
function encodePathLabel(label: string): string {
  return encodeURIComponent(label).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** An error answer is an answer from its status line on: a body cut short leaves the status and headers to decide. */
async function readErrorAnswer(response: IncomingMessage, status: number): Promise<ManagementApiResponseError> {
  const chunks: Buffer[] = [];
  let length = 0;
  try {
    for await (const chunk of response as AsyncIterable<Buffer>) {
      if (length < MAX_ERROR_BODY_BYTES) chunks.push(chunk);
      length += chunk.length;
    }
  } catch {
    // Reset or deadline while reading the body: what was read is parsed as far as it goes.
  }
  const text = Buffer.concat(chunks).toString('utf8').slice(0, MAX_ERROR_BODY_BYTES);
  let document: { __type?: unknown; code?: unknown; message?: unknown; Message?: unknown } = {};
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null) document = parsed;
  } catch {
    // Not JSON (a proxy's HTML page): the status alone decides.
  }
  const header = response.headers['x-amzn-errortype'];
  const rawType = (Array.isArray(header) ? header[0] : header) ?? stringOrUndefined(document.__type) ?? stringOrUndefined(document.code);
  // restJson1 error types may carry a namespace (`ns#Name`) and a suffix (`Name:http://...`).
  const errorType = rawType?.split(':')[0]?.split('#').pop() || undefined;
  const message = stringOrUndefined(document.message) ?? stringOrUndefined(document.Message) ?? `HTTP ${status}`;
  return new ManagementApiResponseError(status, errorType, message);
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * The domain's reading of a failed attempt. `mayHaveLeft`: the request's socket had
 * connected, so API Gateway may have read it; without an answer, the outcome is unknown.
 * Gone and in doubt are this sender's own; every other case is read by the shared
 * classification (../aws-errors.ts).
 */
function toDomainError(error: unknown, connectionId: string, action: string, mayHaveLeft: boolean): Error {
  const options = { cause: error };
  const status = error instanceof ManagementApiResponseError ? error.status : undefined;
  const name = error instanceof ManagementApiResponseError ? error.errorType : undefined;

  // 410 Gone: the socket is dead; remove it, do not retry.
  if (name === 'GoneException' || status === 410) return new ConnectionGoneError(connectionId, options);

  if (status === undefined && mayHaveLeft) {
    // Timeout, reset, EPIPE or a garbled answer after the request may have been read:
    // posting again could deliver it twice. Decided before any classification, which
    // would call a reset transient.
    return new PostInDoubtError(connectionId, options);
  }
  switch (classifyAwsError(error)) {
    case 'throttling':
      return new ThrottledError(`Management API throttled the ${action} connection ${connectionId}`, options);
    case 'transient':
    case 'server':
      return status === undefined
        ? // No answer, and the socket never connected: the request never left.
          new TransientError(`Management API unreachable to ${action} connection ${connectionId}; the request was not sent`, options)
        : new TransientError(`Management API failed (${status}) to ${action} connection ${connectionId}`, options);
    default:
      return new NotificationServiceError(`Management API refused to ${action} connection ${connectionId}: ${describeAwsError(error)}`, options);
  }
}
