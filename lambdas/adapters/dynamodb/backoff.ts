/**
 * Full-jitter exponential backoff: concurrent writers that collided once spread out
 * instead of colliding again in step.
 */
export function backoffDelayMs(attempt: number, baseMs = 10, capMs = 500): number {
  return Math.random() * Math.min(capMs, baseMs * 2 ** attempt);
}

export function pause(ms: number): Promise<void> {
  return new Promise((wake) => setTimeout(wake, ms));
}
