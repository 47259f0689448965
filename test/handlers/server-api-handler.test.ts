import { randomUUID } from 'node:crypto';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { getServices } from '../../lambdas/composition.js';
import { handler } from '../../lambdas/handlers/server-api.js';
import { automaticChannels } from '../../protocol/channels.js';
import { notificationRecord } from '../support/records.js';
import { createTestTables } from '../support/dynamodb.js';
import { ManagementApiStub } from './fanout-management-api-stub.js';

const managementApi = new ManagementApiStub();

/** An HTTP API payload 2.0 event as API Gateway sends it after AWS_IAM let it through. */
function httpEvent(method: string, rawPath: string, options: { body?: string; base64?: boolean; stage?: string } = {}): APIGatewayProxyEventV2 {
  const body = options.body === undefined ? undefined : options.base64 ? Buffer.from(options.body).toString('base64') : options.body;
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath,
    rawQueryString: '',
    headers: { 'content-type': 'application/json' },
    requestContext: {
      accountId: '111122223333',
      apiId: 'abcdef1234',
      domainName: 'abcdef1234.execute-api.eu-west-1.amazonaws.com',
      domainPrefix: 'abcdef1234',
      http: { method, path: rawPath, protocol: 'HTTP/1.1', sourceIp: '10.0.0.1', userAgent: 'test' },
      requestId: randomUUID(),
      routeKey: '$default',
      stage: options.stage ?? '$default',
      time: new Date().toUTCString(),
      timeEpoch: Date.now(),
    },
    ...(body !== undefined ? { body } : {}),
    isBase64Encoded: options.base64 ?? false,
  };
}

describe('server API handler (payload 2.0, DynamoDB Local, Management API over loopback HTTP)', () => {
  beforeAll(async () => {
    const { env } = await createTestTables();
    Object.assign(process.env, env, { MANAGEMENT_ENDPOINT: await managementApi.start(), SERVICE_CONFIG: JSON.stringify({}) });
  });

  afterAll(() => managementApi.stop());

  it('decodes a base64 body and answers JSON with the per-record results', async () => {
    // Prepare
    const connectionId = `conn-${randomUUID().slice(0, 8)}`;
    await getServices().connections.open(
      {
        connectionId,
        userId: 'handler-user',
        roles: [],
        connectedAt: new Date().toISOString(),
        lastSeenAt: new Date().toISOString(),
        channels: automaticChannels('handler-user'),
      },
      { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' },
    );
    const record = notificationRecord({ targetUserId: 'handler-user' });
    // Act
    const response = await handler(httpEvent('POST', '/publish', { body: JSON.stringify(record), base64: true }));
    // Assess
    expect(response).toMatchObject({ statusCode: 200, headers: { 'content-type': 'application/json' } });
    expect(JSON.parse(response.body!)).toMatchObject({ delivered: 1, results: [{ status: 'delivered', messageId: record.messageId, delivered: 1 }] });
    expect(managementApi.calls.filter((call) => call.method === 'POST' && call.connectionId === connectionId)).toHaveLength(1);
  });

  it('routes the path after a named stage', async () => {
    const response = await handler(httpEvent('GET', '/prod/users/nobody-here/presence', { stage: 'prod' }));
    expect(response.statusCode).toBe(200);
    expect(JSON.parse(response.body!)).toEqual({ users: { 'nobody-here': { online: false, connections: 0 } } });
  });

  it('answers a 4xx for bad input, before touching any store', async () => {
    const response = await handler(httpEvent('POST', '/publish', { body: '{' }));
    expect(response.statusCode).toBe(400);
    expect(JSON.parse(response.body!)).toMatchObject({ error: 'invalid_json' });
  });
});
