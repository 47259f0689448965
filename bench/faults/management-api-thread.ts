import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parentPort, workerData } from 'node:worker_threads';
import { CONNECTIONS_PATH, FaultyManagementApi, type ManagementFaults } from './faulty-management-api.js';
import { seededRandom } from './seeded-random.js';

/**
 * The thread the Management API stand-in runs in (started by management-api-host.ts):
 * its own event loop, so that a stall or a busy moment of the process that posts does
 * not stall API Gateway too, and the times it records are when posts really arrived.
 */

/** What the host hands the thread. */
export interface ManagementApiThreadData {
  readonly faults: Omit<ManagementFaults, 'gone' | 'broken' | 'random' | 'onCrash' | 'onOutage'>;
  readonly gone: string[];
  readonly broken: string[];
  readonly seed: number;
  /** Int32Array over it: [0] becomes 1 when the victim dies, [1] when the outage starts (read synchronously by the host). */
  readonly crashFlag: SharedArrayBuffer;
}

/** Messages from the thread. */
export type ManagementApiThreadMessage =
  | { readonly type: 'listening'; readonly port: number }
  | { readonly type: 'crashed'; readonly stage: string; readonly atMs: number }
  | { readonly type: 'report'; readonly report: ReturnType<FaultyManagementApi['report']> };

const data = workerData as ManagementApiThreadData;
const port = parentPort!;
const crashFlag = new Int32Array(data.crashFlag);
const api = new FaultyManagementApi({
  ...data.faults,
  gone: new Set(data.gone),
  broken: new Set(data.broken),
  random: seededRandom(data.seed),
  onCrash: (stage, atMs) => {
    Atomics.store(crashFlag, 0, 1);
    port.postMessage({ type: 'crashed', stage, atMs } satisfies ManagementApiThreadMessage);
  },
  onOutage: () => Atomics.store(crashFlag, 1, 1),
});
const server = createServer((request, response) => {
  const path = new URL(request.url ?? '/', 'http://localhost').pathname;
  const match = CONNECTIONS_PATH.exec(path);
  if (!match) {
    response.writeHead(404).end();
    return;
  }
  api.handle(request, response, match[1] ?? '', match[2]!).catch(() => response.destroy());
});
server.keepAliveTimeout = 30_000;
server.listen(0, '127.0.0.1', () => {
  port.postMessage({ type: 'listening', port: (server.address() as AddressInfo).port } satisfies ManagementApiThreadMessage);
});
port.on('message', (message: { type: string }) => {
  if (message.type === 'report') port.postMessage({ type: 'report', report: api.report() } satisfies ManagementApiThreadMessage);
  if (message.type === 'stop') {
    server.close();
    server.closeAllConnections();
    port.close();
  }
});
