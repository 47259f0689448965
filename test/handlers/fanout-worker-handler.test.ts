import { describe, expect, it } from 'vitest';
import { shardPayload } from '../../lambdas/adapters/lambda/shard-dispatcher.js';
import { InvalidShardRequestError, parseShardRequest } from '../../lambdas/handlers/fanout-worker.js';

describe('fanout worker handler', () => {
  it('reads the shard request the fan-out sends', () => {
    const request = { messageId: 'm-1', planId: '6f1c1f3e-2a55-4f0b-9d3a-1b2c3d4e5f60', index: 3 };

    expect(parseShardRequest(structuredClone(request))).toEqual(request);
  });

  it.each([
    [{}, /messageId/],
    [{ messageId: 'm', planId: 'not-a-uuid', index: 0 }, /planId/],
    [{ messageId: 'm', planId: '6f1c1f3e-2a55-4f0b-9d3a-1b2c3d4e5f60', index: -1 }, /index/],
    [{ messageId: 'm', planId: '6f1c1f3e-2a55-4f0b-9d3a-1b2c3d4e5f60', index: 0, extra: true }, /extra/],
  ])('refuses an event that is not a shard request, naming the field (%j)', (event, field) => {
    expect(() => parseShardRequest(event)).toThrow(InvalidShardRequestError);
    expect(() => parseShardRequest(event)).toThrow(field);
  });

  it('reads the job and targets a first dispatch carries, and refuses a job of another shard', () => {
    const planId = '6f1c1f3e-2a55-4f0b-9d3a-1b2c3d4e5f60';
    const job = {
      messageId: 'm-1',
      planId,
      data: '{"type":"notification"}',
      shardCount: 2,
      targetCount: 3,
      plannedAt: '2024-06-01T12:00:00.000Z',
      postsPerSecond: 2500,
    };
    const request = {
      messageId: 'm-1',
      planId,
      index: 1,
      job,
      targets: [
        ['c1', 'alice'],
        ['c2', 'bob'],
      ],
    };

    expect(parseShardRequest(structuredClone(request))).toEqual(request);
    expect(() => parseShardRequest({ ...request, index: 2 })).toThrow(InvalidShardRequestError);
    expect(() => parseShardRequest({ ...request, job: { ...job, messageId: 'm-2' } })).toThrow(/another shard/);
  });
});

describe('shardPayload', () => {
  const planId = '6f1c1f3e-2a55-4f0b-9d3a-1b2c3d4e5f60';
  const job = {
    messageId: 'm-1',
    planId,
    data: '{"type":"notification"}',
    shardCount: 1,
    targetCount: 2,
    plannedAt: '2024-06-01T12:00:00.000Z',
    postsPerSecond: 0,
  };
  const request = {
    messageId: 'm-1',
    planId,
    index: 0,
    job,
    targets: [
      ['c1', 'alice'],
      ['c2', 'bob'],
    ] as const,
  };
  const decode = (bytes: Uint8Array) => JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;

  it("carries the job and the targets when they fit Lambda's asynchronous payload", () => {
    expect(decode(shardPayload(request))).toEqual(request);
  });

  it('leaves the targets out, then the job, when they do not fit: the worker reads them', () => {
    const withoutTargets = JSON.stringify({ messageId: 'm-1', planId, index: 0, job }).length;
    expect(decode(shardPayload(request, withoutTargets))).toEqual({ messageId: 'm-1', planId, index: 0, job });
    expect(decode(shardPayload(request, 60))).toEqual({ messageId: 'm-1', planId, index: 0 });
  });
});
