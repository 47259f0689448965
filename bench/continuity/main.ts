import { parseArgs } from 'node:util';

// Before any module that logs loads: the one line on stdout must stay the only one.
process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const { values } = parseArgs({
  options: {
    clients: { type: 'string' },
    seed: { type: 'string', default: '1' },
    // The form `npm test` runs: 8 clients, 20 + 20 notifications, 2 stalls.
    quick: { type: 'boolean', default: false },
    // Hide stream positions from the SDK (as against a service without them): the run must fail.
    'hide-positions': { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
  },
});

/**
 * `npm run continuity [-- --quick] [--clients 30] [--seed N]`: the stall test of
 * docs/delivery.md section 10. Prints one line; exits 1 when a client missed a
 * notification it was for, showed one twice, or showed a stream out of order. On failure,
 * stderr says which stream and offsets, what reached the client's socket and what the
 * service answered its `recover`s; the run's folder keeps the service's log and every frame.
 */
async function main(): Promise<number> {
  const { runContinuityScenario, STALL_TEST_SETTINGS } = await import('./scenario.js');
  const { tallyLine } = await import('./tally.js');
  const seed = Number(values.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed ${values.seed}: an integer`);
  const quick = values.quick;
  const clients = Number(values.clients ?? (quick ? 8 : 30));
  if (!Number.isInteger(clients) || clients < 1 || clients > 500) throw new Error(`--clients ${values.clients}: 1 to 500`);
  const result = await runContinuityScenario({
    clients,
    channelNotifications: quick ? 20 : 60,
    userNotifications: quick ? 20 : 60,
    ...(quick ? { stallCount: 2 } : { stallChance: 1 / 3 }),
    stallMs: 2500,
    closesPerStall: quick ? 2 : 3,
    calmNotifications: 3,
    waitMs: 60_000,
    userLanes: 3,
    seed,
    settings: STALL_TEST_SETTINGS,
    dynamodbEndpoint: process.env.DYNAMODB_ENDPOINT,
    hidePositions: values['hide-positions'],
    progress: values.verbose ? (line) => process.stderr.write(`${line}\n`) : undefined,
  });
  process.stdout.write(`${tallyLine(result)}\n`);
  const ok = result.missing === 0 && result.twice === 0 && result.disorder === 0 && result.extra === 0;
  if (!ok || values.verbose) {
    const { wire } = result;
    process.stderr.write(
      `stalls=${result.stalls} closes=${result.closes} reconnects=${wire.reconnects} frames=${wire.notificationFrames} ` +
        `recover_requests=${wire.recoverRequests} replayed=${wire.replayed} duration=${Math.round(result.durationMs)}ms seed=${seed}\n`,
    );
    for (const failure of result.publishFailures) process.stderr.write(`note: publish answered ${failure.slice(0, 240)}\n`);
    for (const problem of result.problems) process.stderr.write(`${problem}\n`);
    process.stderr.write(`service log, config and every frame: ${result.directory}\n`);
  }
  return ok ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`continuity: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
