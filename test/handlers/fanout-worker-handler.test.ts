import { describe, expect, it } from 'vitest';
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
});
