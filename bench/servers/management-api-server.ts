import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { announceReady, serveRequests } from '../child-process.js';

/**
 * A loopback stand-in for the API Gateway Management API as B1 sees it: every
 * `POST /@connections/{id}` answers 200 after an injected latency, and a token bucket
 * refilled at `ratePerSecond` (API Gateway's account quota) answers 429
 * `LimitExceededException` at once, as API Gateway does, when it is empty. Runs in its
 * own process so that its CPU is not counted as the fan-out's.
 */

export interface ManagementApiSettings {
  readonly latencyMs: number;
  readonly ratePerSecond: number;
  /** Tokens the bucket holds when full. */
  readonly burst: number;
}

/** What the server saw since the last `reset`. */
export interface ManagementApiCounts {
  readonly posts: number;
  readonly throttled: number;
  /** Most requests it held open at once. */
  readonly peakInFlight: number;
  /** TCP connections opened by clients: a client that reuses its sockets opens about C. */
  readonly connectionsOpened: number;
}

let settings: ManagementApiSettings = { latencyMs: 20, ratePerSecond: 10_000, burst: 100 };
let tokens = settings.burst;
let refilledAt = performance.now();
let counts = { posts: 0, throttled: 0, peakInFlight: 0, connectionsOpened: 0 };
let inFlight = 0;

function takeToken(): boolean {
  const now = performance.now();
  tokens = Math.min(settings.burst, tokens + ((now - refilledAt) / 1000) * settings.ratePerSecond);
  refilledAt = now;
  if (tokens < 1) return false;
  tokens -= 1;
  return true;
}

const server = createServer((request, response) => {
  // The body is read to the end, as API Gateway would, before answering.
  request.resume();
  request.on('end', () => {
    if (request.method !== 'POST' || !request.url?.includes('/@connections/')) {
      response.writeHead(404).end();
      return;
    }
    if (!takeToken()) {
      counts.throttled += 1;
      response.writeHead(429, { 'content-type': 'application/json', 'x-amzn-ErrorType': 'LimitExceededException' });
      response.end('{"message":"Rate exceeded"}');
      return;
    }
    counts.posts += 1;
    inFlight += 1;
    if (inFlight > counts.peakInFlight) counts.peakInFlight = inFlight;
    setTimeout(() => {
      inFlight -= 1;
      response.writeHead(200, { 'content-length': '0' }).end();
    }, settings.latencyMs);
  });
});
server.on('connection', () => {
  counts.connectionsOpened += 1;
});
server.keepAliveTimeout = 60_000;
server.maxRequestsPerSocket = 0;

serveRequests({
  configure(argument) {
    settings = argument as ManagementApiSettings;
    tokens = settings.burst;
    refilledAt = performance.now();
    counts = { posts: 0, throttled: 0, peakInFlight: 0, connectionsOpened: 0 };
    return null;
  },
  counts: (): ManagementApiCounts => ({ ...counts }),
});

server.listen(0, '127.0.0.1', () => {
  void announceReady({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}/bench` });
});
