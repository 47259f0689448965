/**
 * When a token expires and when to refresh it. The server closes a connection whose
 * token expired unless a `refresh` came first (docs/protocol.md), so the client refreshes
 * ahead of it.
 */

/** Refreshes closer together than this are never scheduled, whatever the token's life. */
const MIN_REFRESH_DELAY_MS = 1_000;

/**
 * The `exp` of a JWT as ISO, read without verifying (the server verifies); undefined for
 * a token that is not a JWT or carries no usable `exp`.
 */
export function tokenExpiry(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (!payload) return undefined;
  try {
    const base64 = payload
      .replace(/-/g, '+')
      .replace(/_/g, '/')
      .padEnd(Math.ceil(payload.length / 4) * 4, '=');
    const exp = (JSON.parse(atob(base64)) as { exp?: unknown }).exp;
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return undefined;
    const date = new Date(exp * 1000);
    return Number.isNaN(date.getTime()) ? undefined : date.toISOString();
  } catch {
    return undefined;
  }
}

/**
 * How long to wait before refreshing a token that expires at `expiresAt`, measured
 * against `now` on the same clock (the server's, when both come from its frames):
 * `leadMs` before expiry, but never earlier than half the remaining time, so a token
 * shorter than the lead does not make the client refresh in a loop. NaN: do not refresh.
 */
export function refreshDelayMs(expiresAt: string, now: string | number, leadMs: number): number {
  const remaining = Date.parse(expiresAt) - (typeof now === 'number' ? now : Date.parse(now));
  // Expired (or unreadable): nothing left to refresh; the server's disconnect reconnects.
  if (!Number.isFinite(remaining) || remaining <= 0) return Number.NaN;
  return Math.max(remaining - leadMs, remaining / 2, MIN_REFRESH_DELAY_MS);
}
