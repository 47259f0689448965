import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Operations DynamoDB throttles per item or partition; table management is left alone. */
const THROTTLED_OPERATIONS = new Set(['GetItem', 'PutItem', 'UpdateItem', 'DeleteItem', 'Query', 'BatchGetItem', 'BatchWriteItem']);
/** An outage takes the whole data plane down, transactions included. */
const OUTAGE_OPERATIONS = new Set([...THROTTLED_OPERATIONS, 'Scan', 'TransactWriteItems', 'TransactGetItems']);

export interface DynamoDbThrottlingProxy {
  /** Endpoint to put in DYNAMODB_ENDPOINT. */
  readonly endpoint: string;
  /** Requests answered with ProvisionedThroughputExceededException so far. */
  readonly throttled: () => number;
  /** Requests refused during the outage so far. */
  readonly outageAnswered: () => number;
  /** Turns the faults on or off (seeding goes straight to DynamoDB Local). */
  enable(on: boolean): void;
  /** Ends the outage for good (it started when `outageDue` first said so). */
  endOutage(): void;
  stop(): Promise<void>;
}

/**
 * A loopback proxy in front of DynamoDB Local that answers a share of the data-plane
 * requests with ProvisionedThroughputExceededException, byte for byte as DynamoDB does
 * (HTTP 400, `__type` ...#ProvisionedThroughputExceededException). Every client of the
 * process, Powertools' included, sees real throttling and its SDK retries it as it
 * would in AWS; what the SDK gives up on reaches the service's own retries. Once
 * `outageDue` says so, it refuses every data-plane request (AccessDeniedException) until
 * the outage is ended: an outage that outlasts the event source mapping's retries.
 */
export async function startDynamoDbThrottlingProxy(
  target: string,
  rate: number,
  random: () => number,
  /** True once an outage is due: from then until {@link DynamoDbThrottlingProxy.endOutage}, every data-plane request is refused (AccessDeniedException). */
  outageDue: () => boolean = () => false,
): Promise<DynamoDbThrottlingProxy> {
  const upstream = new URL(target);
  let enabled = false;
  let outageOver = false;
  let throttled = 0;
  let outageAnswered = 0;
  const server: Server = createServer((incoming, outgoing) => {
    const operation =
      String(incoming.headers['x-amz-target'] ?? '')
        .split('.')
        .pop() ?? '';
    if (enabled && !outageOver && OUTAGE_OPERATIONS.has(operation) && outageDue()) {
      // The function's access to its tables is gone (a deploy that broke its role, a
      // disabled KMS key): final at once, for the SDK and the service alike, and it lasts
      // until someone fixes it, so the trigger's retries are spent within a second.
      outageAnswered += 1;
      incoming.resume();
      const text = JSON.stringify({
        __type: 'com.amazon.coral.service#AccessDeniedException',
        message: 'User is not authorized to perform this action on the table (injected outage)',
      });
      outgoing.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.0', 'Content-Length': Buffer.byteLength(text) });
      outgoing.end(text);
      return;
    }
    if (enabled && THROTTLED_OPERATIONS.has(operation) && random() < rate) {
      throttled += 1;
      incoming.resume();
      const text = JSON.stringify({
        __type: 'com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException',
        message: 'The level of configured provisioned throughput for the table was exceeded (injected)',
      });
      outgoing.writeHead(400, { 'Content-Type': 'application/x-amz-json-1.0', 'Content-Length': Buffer.byteLength(text) });
      outgoing.end(text);
      return;
    }
    const forwarded = httpRequest(
      { hostname: upstream.hostname, port: upstream.port, path: incoming.url, method: incoming.method, headers: incoming.headers },
      (answer) => {
        outgoing.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(outgoing);
      },
    );
    forwarded.on('error', () => outgoing.destroy());
    incoming.pipe(forwarded);
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    throttled: () => throttled,
    outageAnswered: () => outageAnswered,
    enable(on) {
      enabled = on;
    },
    endOutage() {
      outageOver = true;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
