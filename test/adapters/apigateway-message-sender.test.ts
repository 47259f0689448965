import {
  ApiGatewayManagementApiClient,
  ApiGatewayManagementApiServiceException,
  DeleteConnectionCommand,
  ForbiddenException,
  GoneException,
  LimitExceededException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { mockClient } from 'aws-sdk-client-mock';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiGatewayMessageSender } from '../../lambdas/adapters/apigateway/message-sender.js';
import {
  ConnectionGoneError,
  NotificationServiceError,
  ThrottledError,
  TransientError,
} from '../../lambdas/domain/errors.js';

// aws-sdk-client-mock injects the faults API Gateway will not produce on demand.
const managementApi = mockClient(ApiGatewayManagementApiClient);

function serviceError(name: string, status: number, fault: 'client' | 'server' = status >= 500 ? 'server' : 'client') {
  return new ApiGatewayManagementApiServiceException({ name, $fault: fault, $metadata: { httpStatusCode: status }, message: name });
}

describe('ApiGatewayMessageSender', () => {
  let sender: ApiGatewayMessageSender;

  beforeEach(() => {
    managementApi.reset();
    sender = new ApiGatewayMessageSender({
      client: new ApiGatewayManagementApiClient({ endpoint: 'http://127.0.0.1:1/stage', region: 'us-east-1' }),
    });
  });

  afterEach(() => managementApi.reset());

  describe('post', () => {
    it('posts the frame text to the connection', async () => {
      // Prepare
      managementApi.on(PostToConnectionCommand).resolves({});

      // Act
      await sender.post('conn-1', '{"type":"notification"}');

      // Assess
      const calls = managementApi.commandCalls(PostToConnectionCommand);
      expect(calls).toHaveLength(1);
      const input = calls[0]!.args[0].input;
      expect(input.ConnectionId).toBe('conn-1');
      expect(new TextDecoder().decode(input.Data as Uint8Array)).toBe('{"type":"notification"}');
    });

    it('turns GoneException into ConnectionGoneError naming the connection', async () => {
      managementApi.on(PostToConnectionCommand).rejects(new GoneException({ $metadata: { httpStatusCode: 410 }, message: 'Gone' }));

      const error = await sender.post('conn-gone', 'x').catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(ConnectionGoneError);
      expect((error as ConnectionGoneError).connectionId).toBe('conn-gone');
      expect((error as Error).cause).toBeInstanceOf(GoneException);
    });

    it('turns any HTTP 410 into ConnectionGoneError', async () => {
      managementApi.on(PostToConnectionCommand).rejects(serviceError('UnknownError', 410));

      await expect(sender.post('conn-1', 'x')).rejects.toBeInstanceOf(ConnectionGoneError);
    });

    it.each([
      ['LimitExceededException', () => new LimitExceededException({ $metadata: { httpStatusCode: 429 }, message: 'slow down' })],
      ['ThrottlingException', () => serviceError('ThrottlingException', 400)],
      ['HTTP 429', () => serviceError('TooManyRequests', 429)],
    ])('turns %s into ThrottledError', async (_label, fault) => {
      managementApi.on(PostToConnectionCommand).rejects(fault());

      await expect(sender.post('conn-1', 'x')).rejects.toBeInstanceOf(ThrottledError);
    });

    it.each([500, 502, 503, 504])('turns HTTP %i into TransientError', async (status) => {
      managementApi.on(PostToConnectionCommand).rejects(serviceError('InternalServerError', status));

      await expect(sender.post('conn-1', 'x')).rejects.toBeInstanceOf(TransientError);
    });

    it('turns a connection reset into TransientError', async () => {
      managementApi.on(PostToConnectionCommand).rejects(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));

      await expect(sender.post('conn-1', 'x')).rejects.toBeInstanceOf(TransientError);
    });

    it('turns other refusals into a domain error that is neither gone nor retryable', async () => {
      managementApi.on(PostToConnectionCommand).rejects(new ForbiddenException({ $metadata: { httpStatusCode: 403 }, message: 'no' }));

      const error = await sender.post('conn-1', 'x').catch((caught: unknown) => caught);

      expect(error).toBeInstanceOf(NotificationServiceError);
      expect(error).not.toBeInstanceOf(ConnectionGoneError);
      expect(error).not.toBeInstanceOf(ThrottledError);
      expect(error).not.toBeInstanceOf(TransientError);
      expect((error as Error).message).toContain('ForbiddenException');
    });
  });

  describe('close', () => {
    it('deletes the connection', async () => {
      managementApi.on(DeleteConnectionCommand).resolves({});

      await sender.close('conn-1');

      expect(managementApi.commandCalls(DeleteConnectionCommand)[0]!.args[0].input).toEqual({ ConnectionId: 'conn-1' });
    });

    it('treats a connection that is already gone as closed', async () => {
      managementApi.on(DeleteConnectionCommand).rejects(new GoneException({ $metadata: { httpStatusCode: 410 }, message: 'Gone' }));

      await expect(sender.close('conn-gone')).resolves.toBeUndefined();
    });

    it('reports throttling and server faults', async () => {
      managementApi.on(DeleteConnectionCommand).rejectsOnce(serviceError('LimitExceededException', 429)).rejectsOnce(serviceError('InternalFailure', 500));

      await expect(sender.close('conn-1')).rejects.toBeInstanceOf(ThrottledError);
      await expect(sender.close('conn-1')).rejects.toBeInstanceOf(TransientError);
    });
  });
});
