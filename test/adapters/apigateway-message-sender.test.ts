import { createHash, createHmac } from 'node:crypto';
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { createServer, type ClientRequest, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ApiGatewayMessageSender,
  ManagementApiResponseError,
  ManagementApiTimeoutError,
  regionOfEndpoint,
  type ApiGatewayMessageSenderProps,
} from '../../lambdas/adapters/apigateway/message-sender.js';
import { ConnectionGoneError, NotificationServiceError, PostInDoubtError, ThrottledError, TransientError } from '../../lambdas/domain/errors.js';

/**
 * The faults API Gateway will not produce on demand (410, 429, 5xx, resets, silence),
 * answered by a loopback HTTP server: the sender's real request path, no SDK mock.
 */

const CREDENTIALS = { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY', sessionToken: 'session-token' };

interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: Buffer;
}

type Answer = (response: ServerResponse, request: IncomingMessage) => void;

/** A Management API stand-in that answers each request with the next scripted answer (the last one repeats). */
class ScriptedManagementApi {
  readonly received: ReceivedRequest[] = [];
  readonly #answers: Answer[] = [];
  readonly #server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      this.received.push({ method: request.method!, url: request.url!, headers: request.headers, body: Buffer.concat(chunks) });
      const answer = this.#answers.length > 1 ? this.#answers.shift()! : (this.#answers[0] ?? ok());
      answer(response, request);
    });
  });
  readonly #sockets = new Set<Socket>();
  connectionsOpened = 0;

  answer(...answers: Answer[]): this {
    this.#answers.push(...answers);
    return this;
  }

  async start(): Promise<string> {
    this.#server.on('connection', (socket) => {
      this.connectionsOpened += 1;
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}/prod`;
  }

  get port(): string {
    return String((this.#server.address() as AddressInfo).port);
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

const ok =
  (status = 200): Answer =>
  (response) =>
    response.writeHead(status).end();
const apiError =
  (status: number, errorType: string, message = errorType): Answer =>
  (response) =>
    response.writeHead(status, { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType }).end(JSON.stringify({ message }));
const resetSocket: Answer = (_response, request) => request.socket.destroy();
const neverAnswer: Answer = () => undefined;
/** Half a status line, then the socket closes: the answer is cut short before its status. */
const cutShort: Answer = (_response, request) => request.socket.end('HTTP/1.1 2');
const answerAfter =
  (delayMs: number, answer: Answer): Answer =>
  (response, request) => {
    setTimeout(() => {
      if (!response.destroyed) answer(response, request);
    }, delayMs);
  };

/** Counts the requests this process starts to a port, whether or not any reached a server. */
function countRequestsTo(port: string): { readonly count: () => number; readonly stop: () => void } {
  let started = 0;
  const onStart = (message: unknown) => {
    const { request } = message as { request: ClientRequest };
    if (request.getHeader('host') === `127.0.0.1:${port}`) started += 1;
  };
  subscribe('http.client.request.start', onStart);
  return { count: () => started, stop: () => unsubscribe('http.client.request.start', onStart) };
}

let server: ScriptedManagementApi | undefined;
let sender: ApiGatewayMessageSender | undefined;

async function senderAgainst(answers: Answer[], props: Partial<ApiGatewayMessageSenderProps> = {}): Promise<ApiGatewayMessageSender> {
  server = new ScriptedManagementApi().answer(...answers);
  sender = new ApiGatewayMessageSender({
    endpoint: await server.start(),
    maxSockets: 4,
    requestTimeoutMs: 10_000,
    region: 'eu-west-1',
    credentials: async () => CREDENTIALS,
    ...props,
  });
  return sender;
}

async function waitUntil(condition: () => boolean): Promise<void> {
  for (let waited = 0; !condition(); waited += 10) {
    if (waited > 5_000) throw new Error('condition not met within 5 s');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

async function failure(calling: Promise<unknown>): Promise<Error> {
  try {
    await calling;
  } catch (error) {
    return error as Error;
  }
  throw new Error('the call succeeded');
}

afterEach(async () => {
  sender?.destroy();
  await server?.stop();
  sender = undefined;
  server = undefined;
});

/**
 * SigV4 recomputed from what the server received, independently of the sender's signer:
 * the double encoding of the path, the signed headers and the payload hash included.
 */
function expectedSignature(request: ReceivedRequest, region: string): { signature: string; credential: string } {
  const authorization = String(request.headers.authorization);
  const [, , signedHeaders] = /^AWS4-HMAC-SHA256 Credential=([^,]+), SignedHeaders=([^,]+), Signature=[0-9a-f]{64}$/.exec(authorization)!;
  const amzDate = String(request.headers['x-amz-date']);
  const scope = `${amzDate.slice(0, 8)}/${region}/execute-api/aws4_request`;
  const canonicalPath = request.url
    .split('/')
    .map((segment) => encodeURIComponent(segment).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join('/');
  const canonicalHeaders = signedHeaders!
    .split(';')
    .map((name) => `${name}:${String(request.headers[name]).trim()}\n`)
    .join('');
  const canonicalRequest = [request.method, canonicalPath, '', canonicalHeaders, signedHeaders, createHash('sha256').update(request.body).digest('hex')].join(
    '\n',
  );
  const stringToSign = ['AWS4-HMAC-SHA256', amzDate, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  let key: Buffer = createHmac('sha256', `AWS4${CREDENTIALS.secretAccessKey}`).update(amzDate.slice(0, 8)).digest();
  for (const part of [region, 'execute-api', 'aws4_request']) key = createHmac('sha256', key).update(part).digest();
  return { signature: createHmac('sha256', key).update(stringToSign).digest('hex'), credential: `${CREDENTIALS.accessKeyId}/${scope}` };
}

describe('ApiGatewayMessageSender', () => {
  describe('post', () => {
    it('posts the frame bytes to /{stage}/@connections/{id} with the id URL-encoded', async () => {
      // Prepare
      const posting = await senderAgainst([ok()]);

      // Act: API Gateway's ids end in '=' and may hold '+' and '/'.
      await posting.post('L0SM9c+OF/vHcCIhw=', '{"type":"notification","title":"é ✓"}');

      // Assess
      const [request] = server!.received;
      expect(request!.method).toBe('POST');
      expect(request!.url).toBe('/prod/@connections/L0SM9c%2BOF%2FvHcCIhw%3D');
      expect(request!.body.toString('utf8')).toBe('{"type":"notification","title":"é ✓"}');
      expect(request!.headers['content-length']).toBe(String(request!.body.length));
    });

    it('signs the request with SigV4 for execute-api, session token included', async () => {
      // Prepare
      const posting = await senderAgainst([ok()]);

      // Act
      await posting.post('L0SM9cOFvHcCIhw=', '{"type":"notification"}');

      // Assess
      const [request] = server!.received;
      const { signature, credential } = expectedSignature(request!, 'eu-west-1');
      expect(request!.headers.authorization).toContain(`Credential=${credential},`);
      expect(request!.headers.authorization).toMatch(/SignedHeaders=[^,]*host[^,]*x-amz-date[^,]*x-amz-security-token/);
      expect(request!.headers.authorization).toMatch(new RegExp(`Signature=${signature}$`));
      expect(request!.headers['x-amz-security-token']).toBe(CREDENTIALS.sessionToken);
    });

    it('holds at most maxSockets kept-alive sockets, reused across posts', async () => {
      // Prepare
      const posting = await senderAgainst([ok()], { maxSockets: 2 });

      // Act
      for (let round = 0; round < 3; round += 1) {
        await Promise.all(Array.from({ length: 6 }, (_, index) => posting.post(`c${index}`, 'x')));
      }

      // Assess
      expect(server!.received).toHaveLength(18);
      expect(server!.connectionsOpened).toBe(2);
    });

    it('fetches credentials once for many posts', async () => {
      let fetched = 0;
      const posting = await senderAgainst([ok()], {
        credentials: async () => {
          fetched += 1;
          return CREDENTIALS;
        },
      });

      await Promise.all(Array.from({ length: 5 }, (_, index) => posting.post(`c${index}`, 'x')));
      await posting.post('c5', 'x');

      expect(fetched).toBe(1);
    });

    it('fetches credentials again once they are within 5 minutes of their expiry', async () => {
      // Prepare: credentials that expire in 4 minutes, then in an hour.
      let fetched = 0;
      const posting = await senderAgainst([ok()], {
        credentials: async () => {
          fetched += 1;
          return { ...CREDENTIALS, expiration: new Date(Date.now() + (fetched === 1 ? 4 : 60) * 60_000) };
        },
      });

      // Act
      for (let index = 0; index < 3; index += 1) await posting.post(`c${index}`, 'x');

      // Assess: the 4-minute pair was replaced before signing; the hour-long one served every post.
      expect(fetched).toBe(2);
    });

    it('turns 410 GoneException into ConnectionGoneError naming the connection', async () => {
      const posting = await senderAgainst([apiError(410, 'GoneException')]);

      const error = await failure(posting.post('conn-gone', 'x'));

      expect(error).toBeInstanceOf(ConnectionGoneError);
      expect((error as ConnectionGoneError).connectionId).toBe('conn-gone');
      expect(error.cause).toBeInstanceOf(ManagementApiResponseError);
      expect((error.cause as ManagementApiResponseError).errorType).toBe('GoneException');
    });

    it('turns any HTTP 410 into ConnectionGoneError', async () => {
      const posting = await senderAgainst([(response) => response.writeHead(410).end()]);

      expect(await failure(posting.post('conn-1', 'x'))).toBeInstanceOf(ConnectionGoneError);
    });

    it.each([
      ['429 LimitExceededException', apiError(429, 'LimitExceededException', 'slow down')],
      ['400 ThrottlingException', apiError(400, 'ThrottlingException')],
      ['a namespaced 400 TooManyRequestsException', apiError(400, 'com.amazonaws#TooManyRequestsException:http://internal')],
      ['a bare HTTP 429', (response: ServerResponse) => response.writeHead(429).end('<html>busy</html>')],
    ])('turns %s into ThrottledError', async (_label, answer) => {
      const posting = await senderAgainst([answer]);

      expect(await failure(posting.post('conn-1', 'x'))).toBeInstanceOf(ThrottledError);
    });

    it.each([500, 502, 503, 504])('turns HTTP %i into TransientError', async (status) => {
      const posting = await senderAgainst([apiError(status, 'InternalServerErrorException')]);

      expect(await failure(posting.post('conn-1', 'x'))).toBeInstanceOf(TransientError);
    });

    it('turns a refused connection into TransientError', async () => {
      const posting = await senderAgainst([ok()]);
      await server!.stop();
      server = undefined;

      expect(await failure(posting.post('conn-1', 'x'))).toBeInstanceOf(TransientError);
    });

    it('treats HTTP 200 as delivered even when the rest of the answer is cut short', async () => {
      // Prepare: the status line arrives, then the socket closes mid-body.
      const posting = await senderAgainst([
        (response) => {
          response.writeHead(200, { 'content-length': '10' }).write('ab');
          setTimeout(() => response.socket?.destroy(), 20);
        },
      ]);

      // Act, Assess: API Gateway said it took the message.
      await expect(posting.post('conn-1', 'x')).resolves.toBeUndefined();
    });

    it('decides an error answer cut short by its status line', async () => {
      const posting = await senderAgainst([
        (response) => {
          response.writeHead(503, { 'content-length': '100', 'x-amzn-ErrorType': 'ServiceUnavailableException' }).write('{"mess');
          setTimeout(() => response.socket?.destroy(), 20);
        },
      ]);

      expect(await failure(posting.post('conn-1', 'x'))).toBeInstanceOf(TransientError);
    });

    /**
     * The in-doubt rule: once the request may have reached API Gateway, a post without an
     * answer may have been delivered, and posting it again may deliver it twice. Each case
     * runs with `attempts: 3` to prove the sender's own retries leave it alone.
     */
    describe('a post whose outcome is unknown is never posted again', () => {
      it('fails a post answered after its timeout as in doubt, sent exactly once', async () => {
        // Prepare: the answer comes, but after the sender gave up.
        const posting = await senderAgainst([answerAfter(200, ok())], { requestTimeoutMs: 50, attempts: 3 });

        // Act
        const error = await failure(posting.post('conn-1', 'x'));
        await new Promise((resolve) => setTimeout(resolve, 300));

        // Assess
        expect(error).toBeInstanceOf(PostInDoubtError);
        expect((error as PostInDoubtError).connectionId).toBe('conn-1');
        expect(error.cause).toBeInstanceOf(ManagementApiTimeoutError);
        expect(server!.received).toHaveLength(1);
      });

      it('fails a post whose socket is destroyed after the server read it as in doubt, sent exactly once', async () => {
        const posting = await senderAgainst([resetSocket, ok()], { attempts: 3 });

        const error = await failure(posting.post('conn-1', 'x'));

        expect(error).toBeInstanceOf(PostInDoubtError);
        expect((error.cause as { code?: string }).code).toBe('ECONNRESET');
        expect(server!.received).toHaveLength(1);
      });

      it('fails a post whose answer is cut short before its status as in doubt, sent exactly once', async () => {
        const posting = await senderAgainst([cutShort, ok()], { attempts: 3 });

        expect(await failure(posting.post('conn-1', 'x'))).toBeInstanceOf(PostInDoubtError);
        expect(server!.received).toHaveLength(1);
      });

      it('holds a kept-alive socket to the same rule', async () => {
        // Prepare: a first post leaves a connected socket in the agent's pool.
        const posting = await senderAgainst([ok(), resetSocket, ok()], { attempts: 3, maxSockets: 1 });
        await posting.post('conn-1', 'x');

        // Act
        const error = await failure(posting.post('conn-2', 'x'));

        // Assess
        expect(error).toBeInstanceOf(PostInDoubtError);
        expect(server!.received.map((request) => request.url)).toEqual(['/prod/@connections/conn-1', '/prod/@connections/conn-2']);
        expect(server!.connectionsOpened).toBe(1);
      });

      it("uses the caller's timeoutMs when it is less than requestTimeoutMs", async () => {
        const posting = await senderAgainst([neverAnswer], { requestTimeoutMs: 10_000, attempts: 3 });
        const started = performance.now();

        const error = await failure(posting.post('conn-1', 'x', { timeoutMs: 50 }));

        expect(error).toBeInstanceOf(PostInDoubtError);
        expect((error.cause as ManagementApiTimeoutError).timeoutMs).toBeLessThanOrEqual(50);
        expect(performance.now() - started).toBeLessThan(2_000);
        expect(server!.received).toHaveLength(1);
      });
    });

    describe('failures known not to have delivered are retried', () => {
      it('retries a refused connection `attempts` times, as TransientError', async () => {
        // Prepare: a closed port refuses every connection.
        const posting = await senderAgainst([ok()], { attempts: 3 });
        const port = server!.port;
        await server!.stop();
        server = undefined;
        const requests = countRequestsTo(port);

        // Act
        const error = await failure(posting.post('conn-1', 'x'));
        requests.stop();

        // Assess
        expect(error).toBeInstanceOf(TransientError);
        expect((error.cause as { code?: string }).code).toBe('ECONNREFUSED');
        expect(requests.count()).toBe(3);
      });

      it.each([
        ['HTTP 500', apiError(500, 'InternalServerErrorException')],
        ['HTTP 429', apiError(429, 'LimitExceededException')],
      ])('retries an answered %s and then delivers', async (_label, answer) => {
        const posting = await senderAgainst([answer, answer, ok()], { attempts: 3 });

        await posting.post('conn-1', 'x');

        expect(server!.received).toHaveLength(3);
      });

      it('fails a post that waited for a socket past its timeout as TransientError, and never sends it', async () => {
        // Prepare: one socket, held by a post the server answers late.
        const posting = await senderAgainst([answerAfter(150, ok()), ok()], { maxSockets: 1 });
        const holding = posting.post('conn-1', 'x');
        await waitUntil(() => server!.received.length === 1);

        // Act: the second post waits in the agent's queue past its deadline.
        const error = await failure(posting.post('conn-2', 'x', { timeoutMs: 50 }));
        await holding;
        await new Promise((resolve) => setTimeout(resolve, 100));

        // Assess: it failed at its deadline, and the socket freed later did not carry it.
        expect(error).toBeInstanceOf(TransientError);
        expect(error.cause).toBeInstanceOf(ManagementApiTimeoutError);
        expect(server!.received.map((request) => request.url)).toEqual(['/prod/@connections/conn-1']);
      });

      it('sends nothing when the caller gives no time (timeoutMs <= 0)', async () => {
        const posting = await senderAgainst([ok()], { attempts: 3 });

        const errors = [await failure(posting.post('conn-1', 'x', { timeoutMs: 0 })), await failure(posting.post('conn-1', 'x', { timeoutMs: -5 }))];

        expect(errors.every((error) => error instanceof TransientError)).toBe(true);
        expect(server!.received).toHaveLength(0);
        expect(server!.connectionsOpened).toBe(0);
      });
    });

    it('turns other refusals into a domain error that is neither gone nor retryable', async () => {
      const posting = await senderAgainst([apiError(403, 'ForbiddenException', 'no')]);

      const error = await failure(posting.post('conn-1', 'x'));

      expect(error).toBeInstanceOf(NotificationServiceError);
      expect(error).not.toBeInstanceOf(ConnectionGoneError);
      expect(error).not.toBeInstanceOf(ThrottledError);
      expect(error).not.toBeInstanceOf(TransientError);
      expect(error.message).toContain('ForbiddenException');
      expect(error.message).toContain('HTTP 403');
    });

    it('makes one attempt by default: the fan-out retries itself', async () => {
      const posting = await senderAgainst([apiError(500, 'InternalServerErrorException'), ok()]);

      expect(await failure(posting.post('conn-1', 'x'))).toBeInstanceOf(TransientError);
      expect(server!.received).toHaveLength(1);
    });

    it('retries throttling and transient faults up to `attempts`, and nothing else', async () => {
      const posting = await senderAgainst([apiError(429, 'LimitExceededException'), apiError(502, 'BadGateway'), ok(), apiError(410, 'GoneException')], {
        attempts: 3,
      });

      await posting.post('conn-1', 'x');
      const error = await failure(posting.post('conn-2', 'x'));

      expect(server!.received.map((request) => request.url)).toEqual([
        '/prod/@connections/conn-1',
        '/prod/@connections/conn-1',
        '/prod/@connections/conn-1',
        '/prod/@connections/conn-2',
      ]);
      expect(error).toBeInstanceOf(ConnectionGoneError);
    });
  });

  describe('close', () => {
    it('deletes the connection', async () => {
      const closing = await senderAgainst([ok(204)]);

      await closing.close('conn-1=');

      expect(server!.received.map((request) => `${request.method} ${request.url}`)).toEqual(['DELETE /prod/@connections/conn-1%3D']);
    });

    it('treats a connection that is already gone as closed', async () => {
      const closing = await senderAgainst([apiError(410, 'GoneException')]);

      await expect(closing.close('conn-gone')).resolves.toBeUndefined();
    });

    it('retries a close whose outcome is unknown: closing twice does no harm', async () => {
      const closing = await senderAgainst([answerAfter(200, ok(204)), ok(204)], { requestTimeoutMs: 50, attempts: 2 });

      await closing.close('conn-1');

      expect(server!.received.map((request) => request.method)).toEqual(['DELETE', 'DELETE']);
    });

    it('reports a close whose outcome is unknown as TransientError, never as a post in doubt', async () => {
      const closing = await senderAgainst([resetSocket]);

      const error = await failure(closing.close('conn-1'));

      expect(error).toBeInstanceOf(TransientError);
      expect(error).not.toBeInstanceOf(PostInDoubtError);
    });

    it('reports throttling and server faults', async () => {
      const closing = await senderAgainst([apiError(429, 'LimitExceededException'), apiError(500, 'InternalFailure')]);

      expect(await failure(closing.close('conn-1'))).toBeInstanceOf(ThrottledError);
      expect(await failure(closing.close('conn-1'))).toBeInstanceOf(TransientError);
    });
  });

  describe('construction', () => {
    it.each([
      ['https://abc123.execute-api.ap-southeast-2.amazonaws.com/prod', 'ap-southeast-2'],
      ['https://abc123.execute-api.cn-north-1.amazonaws.com.cn/prod', 'cn-north-1'],
      ['https://ws.example.com/prod', undefined],
      ['http://127.0.0.1:3001', undefined],
    ])('reads the signing region of %s from its host', (endpoint, region) => {
      expect(regionOfEndpoint(new URL(endpoint))).toBe(region);
    });

    it.each([
      [{ endpoint: 'ftp://example.com/prod' }, /http\(s\) URL/],
      [{ maxSockets: 0 }, /maxSockets must be a positive integer, got 0/],
      [{ attempts: 1.5 }, /attempts must be a positive integer, got 1.5/],
      [{ requestTimeoutMs: 0 }, /requestTimeoutMs must be positive/],
    ])('rejects %j', (override, message) => {
      expect(
        () =>
          new ApiGatewayMessageSender({
            endpoint: 'http://127.0.0.1:1/prod',
            maxSockets: 1,
            requestTimeoutMs: 1,
            credentials: async () => CREDENTIALS,
            ...override,
          }),
      ).toThrow(message);
    });
  });
});
