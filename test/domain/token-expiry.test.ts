import { SignJWT } from 'jose';
import { beforeEach, describe, expect, it } from 'vitest';
import { TokenVerifier } from '../../lambdas/auth/token-verifier.js';
import { MemoryConnectionStore, MemoryState } from '../../lambdas/adapters/memory/index.js';
import { CleanupService } from '../../lambdas/domain/cleanup-service.js';
import { ConnectionNotFoundError, ProtocolError, TransientError } from '../../lambdas/domain/errors.js';
import type { Connection } from '../../lambdas/domain/model.js';
import type { Log } from '../../lambdas/domain/ports.js';
import { TokenRefreshService } from '../../lambdas/domain/token-refresh.js';
import { serverFrame as serverFrameSchema } from '../../protocol/frames.js';
import { RecordingSender } from '../support/recording-sender.js';

/**
 * Tokens that expire on an open connection: `refresh` moves the expiry later only for a
 * newer valid token of the same user, and cleanup closes what expired without one.
 */

const SECRET = 'token-expiry-test-secret';
const NOW = new Date('2030-01-01T00:00:00.000Z');
const NOW_S = NOW.getTime() / 1000;
const silent: Log = { debug() {}, info() {}, warn() {}, error() {} };
const LIMIT = { limit: 10, staleBefore: '1970-01-01T00:00:00.000Z' };

function iso(epochSeconds: number): string {
  return new Date(epochSeconds * 1000).toISOString();
}

function sign(userId: string, exp: number, secret = SECRET): Promise<string> {
  return new SignJWT({ roles: [] }).setProtectedHeader({ alg: 'HS256' }).setSubject(userId).setExpirationTime(exp).sign(new TextEncoder().encode(secret));
}

function aConnection(connectionId: string, userId: string, tokenExpiresAt?: string): Connection {
  return {
    connectionId,
    userId,
    roles: [],
    connectedAt: NOW.toISOString(),
    lastSeenAt: NOW.toISOString(),
    channels: [`user-${userId}`],
    ...(tokenExpiresAt ? { tokenExpiresAt } : {}),
  };
}

describe('TokenRefreshService', () => {
  let state: MemoryState;
  let connections: MemoryConnectionStore;
  let service: TokenRefreshService;

  beforeEach(async () => {
    state = new MemoryState();
    connections = new MemoryConnectionStore(state);
    service = new TokenRefreshService({ connections, tokens: new TokenVerifier({ mode: 'hs256', secret: async () => SECRET, now: () => NOW }) });
    await connections.open(aConnection('conn-alice', 'alice', iso(NOW_S + 600)), LIMIT);
  });

  async function refusal(token: string): Promise<ProtocolError> {
    const before = structuredClone(await connections.get('conn-alice'));
    const error = await service.refresh('conn-alice', { userId: 'alice', roles: [] }, token).then(
      () => undefined,
      (thrown: unknown) => thrown,
    );
    expect(error).toBeInstanceOf(ProtocolError);
    // Refused: nothing changed.
    expect(await connections.get('conn-alice')).toEqual(before);
    return error as ProtocolError;
  }

  it("moves the expiry to a newer token's exp and answers it", async () => {
    // Act
    const answer = await service.refresh('conn-alice', { userId: 'alice', roles: [] }, await sign('alice', NOW_S + 3600));

    // Assess
    expect(answer).toEqual({ expiresAt: iso(NOW_S + 3600) });
    expect((await connections.get('conn-alice'))?.tokenExpiresAt).toBe(iso(NOW_S + 3600));
  });

  it("refuses another user's token with TOKEN_USER_MISMATCH", async () => {
    expect((await refusal(await sign('mallory', NOW_S + 3600))).code).toBe('TOKEN_USER_MISMATCH');
  });

  it('refuses a badly signed, malformed or expired token with TOKEN_INVALID', async () => {
    expect((await refusal(await sign('alice', NOW_S + 3600, 'another-secret'))).code).toBe('TOKEN_INVALID');
    expect((await refusal('not.a.jwt')).code).toBe('TOKEN_INVALID');
    expect((await refusal(await sign('alice', NOW_S - 60))).code).toBe('TOKEN_INVALID');
  });

  it('refuses an older or equally old token with TOKEN_NOT_NEWER', async () => {
    expect((await refusal(await sign('alice', NOW_S + 300))).code).toBe('TOKEN_NOT_NEWER');
    expect((await refusal(await sign('alice', NOW_S + 600))).code).toBe('TOKEN_NOT_NEWER');
  });

  it('answers ConnectionNotFoundError for a connection no longer stored', async () => {
    await expect(service.refresh('conn-gone', { userId: 'alice', roles: [] }, await sign('alice', NOW_S + 3600))).rejects.toBeInstanceOf(
      ConnectionNotFoundError,
    );
  });
});

describe('CleanupService.closeExpiredTokens', () => {
  let connections: MemoryConnectionStore;
  let sender: RecordingSender;
  let now: Date;
  let cleanup: CleanupService;

  beforeEach(() => {
    connections = new MemoryConnectionStore(new MemoryState(), { pageSize: 2 });
    sender = new RecordingSender();
    now = NOW;
    cleanup = new CleanupService({ connections, sender, clock: { now: () => now }, log: silent, idleTimeoutSeconds: 900, concurrency: 2 });
  });

  it('tells, closes and removes each connection whose token expired; spares the rest', async () => {
    // Prepare
    await connections.open(aConnection('expired-1', 'alice', iso(NOW_S - 1)), LIMIT);
    await connections.open(aConnection('expired-2', 'bob', iso(NOW_S - 3600)), LIMIT);
    await connections.open(aConnection('expired-3', 'carol', iso(NOW_S - 10)), LIMIT);
    await connections.open(aConnection('valid', 'dan', iso(NOW_S + 1)), LIMIT);
    await connections.open(aConnection('no-token', 'erin'), LIMIT);

    // Act
    const summary = await cleanup.closeExpiredTokens();

    // Assess
    expect(summary).toEqual({ examined: 3, closed: 3, removed: 3, failed: 0 });
    expect(sender.closed.sort()).toEqual(['expired-1', 'expired-2', 'expired-3']);
    for (const id of ['expired-1', 'expired-2', 'expired-3']) {
      const [frame] = sender.framesTo(id);
      expect(serverFrameSchema.parse(frame)).toMatchObject({ type: 'disconnect', payload: { reason: 'token-expired', reconnect: true } });
      expect(await connections.get(id)).toBeUndefined();
    }
    expect(await connections.get('valid')).toBeDefined();
    expect(await connections.get('no-token')).toBeDefined();
  });

  it('spares a connection refreshed after the listing (decided on a fresh read)', async () => {
    // Prepare: the refresh lands between the listing and the close.
    await connections.open(aConnection('racing', 'alice', iso(NOW_S - 1)), LIMIT);
    const listing = connections.listTokenExpiredBefore.bind(connections);
    connections.listTokenExpiredBefore = (cutoff) =>
      (async function* () {
        for await (const page of listing(cutoff)) {
          await connections.extendToken('racing', 'alice', iso(NOW_S + 600));
          yield page;
        }
      })();

    // Act
    const summary = await cleanup.closeExpiredTokens();

    // Assess
    expect(summary).toEqual({ examined: 1, closed: 0, removed: 0, failed: 0 });
    expect(sender.closed).toEqual([]);
    expect(await connections.get('racing')).toBeDefined();
  });

  it('closes even when the disconnect frame cannot be posted (the socket is gone)', async () => {
    // Prepare
    await connections.open(aConnection('gone', 'alice', iso(NOW_S - 1)), LIMIT);
    sender.gone.add('gone');

    // Act
    const summary = await cleanup.closeExpiredTokens();

    // Assess
    expect(summary).toEqual({ examined: 1, closed: 1, removed: 1, failed: 0 });
    expect(await connections.get('gone')).toBeUndefined();
  });

  it('leaves a connection whose close failed for the next run, still stored', async () => {
    // Prepare
    await connections.open(aConnection('stuck', 'alice', iso(NOW_S - 1)), LIMIT);
    sender.close = async () => {
      throw new TransientError('503');
    };

    // Act
    const summary = await cleanup.closeExpiredTokens();

    // Assess
    expect(summary).toEqual({ examined: 1, closed: 0, removed: 0, failed: 1 });
    expect(await connections.get('stuck')).toBeDefined();
  });

  it('run() closes expired connections beside idle ones', async () => {
    // Prepare: fresh activity, expired token.
    await connections.open(aConnection('expired', 'alice', iso(NOW_S - 1)), LIMIT);

    // Act
    const summary = await cleanup.run();

    // Assess
    expect(summary).toEqual({ examined: 1, closed: 1, removed: 1, failed: 0 });
    expect(sender.closed).toEqual(['expired']);
  });
});
