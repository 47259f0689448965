import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request the stub answered. */
export interface ManagementApiCall {
  readonly method: string;
  readonly connectionId: string;
  readonly body: string;
}

/**
 * A loopback stand-in for the API Gateway Management API (`@connections`), so the real
 * SDK client posts over HTTP. Connections listed in `gone` answer 410 GoneException, as
 * API Gateway does for a closed socket.
 */
export class ManagementApiStub {
  readonly calls: ManagementApiCall[] = [];
  readonly gone = new Set<string>();
  #server: Server | undefined;

  /** Starts on a free port; resolves to the endpoint to put in MANAGEMENT_ENDPOINT. */
  async start(): Promise<string> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const match = /\/@connections\/([^/?]+)/.exec(request.url ?? '');
        if (!match) {
          response.writeHead(404).end();
          return;
        }
        const connectionId = decodeURIComponent(match[1]!);
        this.calls.push({ method: request.method ?? '', connectionId, body: Buffer.concat(chunks).toString('utf8') });
        if (this.gone.has(connectionId)) {
          response.writeHead(410, { 'content-type': 'application/json', 'x-amzn-ErrorType': 'GoneException' });
          response.end(JSON.stringify({ message: 'Gone' }));
          return;
        }
        response.writeHead(request.method === 'DELETE' ? 204 : 200).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.#server = server;
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/test`;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  /** The frames posted to a connection, parsed. */
  framesTo(connectionId: string): Array<Record<string, unknown>> {
    return this.calls
      .filter((call) => call.method === 'POST' && call.connectionId === connectionId)
      .map((call) => JSON.parse(call.body) as Record<string, unknown>);
  }

  reset(): void {
    this.calls.length = 0;
    this.gone.clear();
  }
}
