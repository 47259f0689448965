import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PostInDoubtError } from '../../lambdas/domain/errors.js';
import { buildInMemoryService as build } from '../support/in-memory-service.js';
import { aNotification } from '../adapters/contracts/notification-log.contract.js';

/**
 * The routes' senders retry on their own (3 attempts) and welcome retries on 410: a post
 * whose outcome is unknown (PostInDoubtError) must come out of none of them as a second
 * post, and must not fail in a way that makes the caller (Lambda's asynchronous retry, a
 * client) post it again.
 */

const frame = (type: string, payload: unknown = {}) => JSON.stringify({ messageId: randomUUID(), type, payload });

/** Makes the `inDoubtAt`-th post (1-based) fail as in doubt; counts every post attempted. */
function postsInDoubtAt(world: ReturnType<typeof build>, inDoubtAt: number): { readonly attempted: () => number } {
  let attempted = 0;
  const original = world.sender.post.bind(world.sender);
  world.sender.post = async (connectionId, data) => {
    attempted += 1;
    if (attempted === inDoubtAt) throw new PostInDoubtError(connectionId);
    return original(connectionId, data);
  };
  return { attempted: () => attempted };
}

describe('posts in doubt on the routes', () => {
  describe('ConnectionService.deliverWelcome', () => {
    it('reports a welcome in doubt as its outcome, posted once and not thrown', async () => {
      // Prepare
      const world = build();
      await world.connectionService.connect('conn-new', { userId: 'neo', roles: [] });
      const posts = postsInDoubtAt(world, 1);

      // Act: a throw here would let Lambda's asynchronous retry post a second welcome.
      const outcome = await world.connectionService.deliverWelcome('conn-new');

      // Assess
      expect(outcome).toBe('in-doubt');
      expect(posts.attempted()).toBe(1);
    });

    it('tells a connection removed before its welcome (a 410 during its handshake) to reconnect, and closes it', async () => {
      // Prepare: the connection was registered, then removed while its handshake ran.
      const world = build();
      await world.connectionService.connect('conn-removed', { userId: 'neo', roles: [] });
      world.state.connections.delete('conn-removed');

      // Act
      const outcome = await world.connectionService.deliverWelcome('conn-removed');

      // Assess: no welcome to a socket that would receive nothing; `disconnect` says why.
      expect(outcome).toBe('connection-removed');
      expect(world.sender.framesTo('conn-removed')).toEqual([
        expect.objectContaining({ type: 'disconnect', payload: { reason: 'unregistered', reconnect: true } }),
      ]);
      expect(world.sender.closed).toEqual(['conn-removed']);
    });

    it('stops at a post in doubt after 410s, without another attempt', async () => {
      const world = build();
      await world.connectionService.connect('conn-new', { userId: 'neo', roles: [] });
      world.sender.gone.add('conn-new');
      const posts = postsInDoubtAt(world, 3);

      expect(await world.connectionService.deliverWelcome('conn-new')).toBe('in-doubt');
      expect(posts.attempted()).toBe(3);
    });
  });

  describe('RecoveryService.recover', () => {
    it('stops the replay at a post in doubt and answers complete: false, posting nothing after it', async () => {
      // Prepare: three notifications in alice's inbox; the second post's outcome is unknown.
      const world = build();
      const alice = { connectionId: 'conn-alice', identity: { userId: 'alice', roles: [] } };
      await world.connectionService.connect('conn-alice', alice.identity);
      const kept = ['first', 'second', 'third'].map((title, index) =>
        aNotification(`2025-12-31T23:59:0${index}.000Z`, randomUUID(), { title, message: title }),
      );
      for (const notification of kept) {
        await world.notifications.append(notification, [{ kind: 'user', userId: 'alice' }], world.config.websocket.history_ttl);
      }
      const posts = postsInDoubtAt(world, 2);

      // Act
      const reply = await world.requests.handle(alice, frame('recover', { since: '2025-12-31T23:00:00.000Z' }));

      // Assess: the second is not posted again, and the third does not overtake it; the
      // client asks again from the last one it got.
      expect(reply).toMatchObject({ type: 'recovered', payload: { count: 1, complete: false } });
      expect(posts.attempted()).toBe(2);
      expect(world.sender.framesTo('conn-alice').map((posted) => posted.messageId)).toEqual([kept[0]!.messageId]);
    });
  });
});
