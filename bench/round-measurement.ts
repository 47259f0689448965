import type { ClientSwarm } from './client-swarm.js';

/**
 * B0 and B3 measure the same way: rounds of one notification to every client, one round
 * after the other, publish to last receipt. Latency percentiles are over every receipt
 * of every measured round; throughput is deliveries over the summed round durations.
 */

export interface DeliveryFigures {
  readonly clients: number;
  readonly rounds: number;
  readonly deliveries: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
  readonly deliveriesPerSecond: number;
  /** CPU (user + system) of the server process per delivery, warm-up rounds excluded. */
  readonly serverCpuUsPerDelivery: number;
}

export interface RoundPlan {
  readonly warmupRounds: number;
  readonly rounds: number;
}

/** The notification payload of round `round`: the swarm recognises it by its id. */
export function roundPayload(round: number) {
  return {
    notificationId: `round-${round}`,
    title: 'Booking Confirmed',
    message: 'Your booking for Saturday 14:00 has been confirmed. See you there!',
    priority: 'medium' as const,
    actionUrl: '/bookings/123',
    createdAt: new Date().toISOString(),
  };
}

/** The value at quantile `q` (0..1) of ascending `sorted`, nearest rank. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil(q * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))]!;
}

export async function measureRounds(
  swarm: ClientSwarm,
  plan: RoundPlan,
  publish: (round: number) => Promise<void>,
  serverCpu: () => Promise<NodeJS.CpuUsage>,
  onRound: (done: number, total: number) => void = () => {},
): Promise<DeliveryFigures> {
  let round = 0;
  for (let warmup = 0; warmup < plan.warmupRounds; warmup += 1) {
    round += 1;
    await swarm.round(round, () => publish(round));
  }
  const latencies: number[] = [];
  let busyMs = 0;
  const cpuBefore = await serverCpu();
  for (let measured = 0; measured < plan.rounds; measured += 1) {
    round += 1;
    const timing = await swarm.round(round, () => publish(round));
    latencies.push(...timing.latenciesMs);
    busyMs += timing.durationMs;
    onRound(measured + 1, plan.rounds);
  }
  const cpuAfter = await serverCpu();
  const sorted = latencies.sort((a, b) => a - b);
  const cpuUs = cpuAfter.user - cpuBefore.user + (cpuAfter.system - cpuBefore.system);
  return {
    clients: swarm.size,
    rounds: plan.rounds,
    deliveries: sorted.length,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    maxMs: sorted.at(-1) ?? Number.NaN,
    deliveriesPerSecond: (sorted.length / busyMs) * 1000,
    serverCpuUsPerDelivery: cpuUs / Math.max(1, sorted.length),
  };
}

/** POSTs a JSON body and fails on any status but 2xx. */
export async function postJson(url: string, body: unknown): Promise<void> {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const text = await response.text();
  if (!response.ok) throw new Error(`POST ${url}: HTTP ${response.status} ${text.slice(0, 500)}`);
}
