import { describe, expect, inject, it } from 'vitest';
import { runContinuityScenario, STALL_TEST_SETTINGS } from '../../bench/continuity/scenario.js';
import { tallyLine } from '../../bench/continuity/tally.js';

describe('npm run continuity, quick form (the service stopped past its lease and write timeout, connections closed with a backlog)', () => {
  it('shows every notification once on every client it was for, each stream in publish order, soon after the last stall', async () => {
    // Arrange + Act: the service (npm start with write_timeout = 1, lease_seconds = 2,
    // fanout_concurrency = 5, heartbeat_interval = 5) in a child process; 8 SDK clients on
    // one channel; 20 channel and 20 user notifications with the service stopped for 2.5 s
    // twice and up to two connections closed after each stall; then 3 calm ones. A fixed
    // seed: the same plan every run.
    const result = await runContinuityScenario({
      clients: 8,
      channelNotifications: 20,
      userNotifications: 20,
      stallCount: 2,
      stallMs: 2500,
      closesPerStall: 2,
      calmNotifications: 3,
      waitMs: 15_000,
      userLanes: 3,
      seed: 1,
      settings: STALL_TEST_SETTINGS,
      dynamodbEndpoint: inject('dynamodbEndpoint'),
    });

    // Assess: on failure, the message has the line, the counts, and the problems: each
    // names the stream and offsets, what reached the client's socket and what the service
    // answered its recovers; the run's folder keeps the service's log and every frame.
    const line = tallyLine(result);
    const seen = `${line}\nstalls=${result.stalls} closes=${result.closes} ${JSON.stringify(result.wire)}\npublishes failed: ${result.publishFailures.slice(0, 3).join(' | ') || 'none'}\n${result.problems.join('\n')}\nrun folder: ${result.directory}`;
    expect({ missing: result.missing, twice: result.twice, disorder: result.disorder, extra: result.extra, problems: result.problems }, seen).toEqual({
      missing: 0,
      twice: 0,
      disorder: 0,
      extra: 0,
      problems: [],
    });
    expect(line, seen).toMatch(/^clients=8 notifications=204 shown=204 missing=0 twice=0 disorder=0 heal_p50=\d+ms heal_p99=\d+ms$/);
    // The faults were really met: both stalls, a server-side close, and the SDK recovered.
    expect({ stalls: result.stalls, closed: result.closes > 0, reconnected: result.wire.reconnects > 0, replayed: result.wire.replayed > 0 }, seen).toEqual({
      stalls: 2,
      closed: true,
      reconnected: true,
      replayed: true,
    });
  }, 90_000);
});
