import { describe, expect, it } from 'vitest';
import * as z from '../protocol/zod-mini.js';
import { formatZodIssues } from '../protocol/zod-issues.js';

/** The one zod-issue formatter (protocol/zod-issues.ts) that config, frames, records and API bodies share. */

const schema = z.strictObject({
  websocket: z.strictObject({ max_frame_size: z.number().check(z.minimum(1024)), idle_timeout: z.number() }),
  topics: z.array(z.string().check(z.minLength(3))),
});

function issuesOf(value: unknown): z.core.$ZodError {
  const result = schema.safeParse(value);
  if (result.success) throw new Error('expected a failed parse');
  return result.error;
}

describe('formatZodIssues', () => {
  it('names each issue by its dotted path, array indexes included', () => {
    const error = issuesOf({ websocket: { max_frame_size: 10, idle_timeout: 1 }, topics: ['ok!', 'x'] });

    expect(formatZodIssues(error)).toEqual([
      'websocket.max_frame_size: Too small: expected number to be >=1024',
      'topics.1: Too small: expected string to have >=3 characters',
    ]);
  });

  it('puts the prefix before every path and names a whole-value issue by root', () => {
    const rootError = z.strictObject({}).safeParse('not an object').error!;

    expect(formatZodIssues(issuesOf({ websocket: { max_frame_size: 2048 }, topics: [] }), { prefix: 'payload' })).toEqual([
      'payload.websocket.idle_timeout: Invalid input: expected number, received undefined',
    ]);
    expect(formatZodIssues(rootError)).toEqual(['(root): Invalid input: expected object, received string']);
    expect(formatZodIssues(rootError, { root: 'frame' })).toEqual(['frame: Invalid input: expected object, received string']);
  });

  it('names unknown keys by their full path, with the keys allowed there when asked', () => {
    const error = issuesOf({ websocket: { max_frame_size: 2048, idle_timeout: 1, max_frame_sise: 1, extra: 2 }, topics: [] });

    expect(formatZodIssues(error)).toEqual(['websocket.max_frame_sise, websocket.extra: unknown key']);
    expect(formatZodIssues(error, { allowedKeys: (path) => (path[0] === 'websocket' ? ['max_frame_size', 'idle_timeout'] : []) })).toEqual([
      'websocket.max_frame_sise, websocket.extra: unknown key (allowed: max_frame_size, idle_timeout)',
    ]);
  });

  it('tells at most `limit` issues', () => {
    const error = issuesOf({ websocket: 1, topics: 2 });

    expect(formatZodIssues(error)).toHaveLength(2);
    expect(formatZodIssues(error, { limit: 1 })).toEqual(['websocket: Invalid input: expected object, received number']);
  });

  it('lets a caller name a path its own way', () => {
    const error = issuesOf({ websocket: { max_frame_size: 10, idle_timeout: 1 }, topics: [] });

    expect(formatZodIssues(error, { nameOf: (path) => `--${String(path.at(-1)).replaceAll('_', '-')}` })).toEqual([
      '--max-frame-size: Too small: expected number to be >=1024',
    ]);
  });
});
