import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { announceReady, serveRequests } from '../child-process.js';

/**
 * B0's server: the floor. A bare `ws` server that sends each body POSTed to /publish, as
 * it is, to every client it holds: no authorisation, no store, no per-client request.
 * Runs in its own process so that its CPU per delivery can be read alone.
 */

const server = createServer((request, response) => {
  if (request.method !== 'POST' || request.url !== '/publish') {
    response.writeHead(404).end();
    return;
  }
  const chunks: Buffer[] = [];
  request.on('data', (chunk: Buffer) => chunks.push(chunk));
  request.on('end', () => {
    const body = Buffer.concat(chunks).toString('utf8');
    for (const client of sockets.clients) client.send(body);
    response.writeHead(204).end();
  });
});
const sockets = new WebSocketServer({ server, perMessageDeflate: false });

serveRequests({
  cpuUsage: () => process.cpuUsage(),
  clients: () => sockets.clients.size,
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  void announceReady({ httpUrl: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` });
});
