import { ConnectionGoneError } from '../../lambdas/domain/errors.js';
import type { MessageSender } from '../../lambdas/domain/ports.js';

/** A MessageSender that keeps what was posted; connections listed in `gone` answer 410. */
export class RecordingSender implements MessageSender {
  readonly posts: { connectionId: string; frame: Record<string, unknown> }[] = [];
  readonly closed: string[] = [];
  readonly gone = new Set<string>();

  async post(connectionId: string, data: string): Promise<void> {
    if (this.gone.has(connectionId)) throw new ConnectionGoneError(connectionId);
    this.posts.push({ connectionId, frame: JSON.parse(data) as Record<string, unknown> });
  }

  async close(connectionId: string): Promise<void> {
    this.closed.push(connectionId);
  }

  framesTo(connectionId: string): Record<string, unknown>[] {
    return this.posts.filter((post) => post.connectionId === connectionId).map((post) => post.frame);
  }
}
