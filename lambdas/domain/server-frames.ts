import { randomUUID } from 'node:crypto';
import type { ErrorCode } from '../../protocol/error-codes.js';
import type { ServerFrame } from '../../protocol/frames.js';
import type { Clock } from './ports.js';

type FrameOf<T extends ServerFrame['type']> = Extract<ServerFrame, { type: T }>;

/** Builds a server frame: a fresh messageId, the server's timestamp, `replyTo` when answering. */
export function serverFrame<T extends Exclude<ServerFrame['type'], 'notification'>>(
  clock: Clock,
  type: T,
  payload: FrameOf<T>['payload'],
  replyTo?: string,
): FrameOf<T> {
  return {
    messageId: randomUUID(),
    type,
    payload,
    timestamp: clock.now().toISOString(),
    ...(replyTo ? { replyTo } : {}),
  } as FrameOf<T>;
}

export function errorFrame(clock: Clock, code: ErrorCode, message: string, replyTo?: string): FrameOf<'error'> {
  return serverFrame(clock, 'error', { code, message }, replyTo);
}
