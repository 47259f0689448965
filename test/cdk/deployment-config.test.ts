import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../lambdas/config/errors.js';
import { loadDeploymentSettings } from '../../lib/deployment-config.js';

const shipped = fileURLToPath(new URL('../../Config.toml', import.meta.url));

function configWith(replace: (text: string) => string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'notifications-config-')), 'Config.toml');
  writeFileSync(path, replace(readFileSync(shipped, 'utf8')));
  return path;
}

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadDeploymentSettings', () => {
  it('reads the shipped Config.toml with the protocol defaults and the example deployment', () => {
    const { service, deployment } = loadDeploymentSettings(shipped);
    expect(service.websocket).toMatchObject({ max_frame_size: 65536, idle_timeout: 900, heartbeat_interval: 300, history_ttl: 604800 });
    expect(deployment).toMatchObject({ stack_name: 'RealtimeNotifications', removal_policy: 'retain', cleanup_rate_minutes: 5 });
    expect(deployment.kafka?.msk_cluster_arn).toMatch(/^arn:aws:kafka:/);
  });

  it('names the bad key and the allowed values', () => {
    const error = errorOf(() => loadDeploymentSettings(configWith((t) => t.replace(/^log_retention_days = 365/m, 'log_retention_days = 31'))));
    expect(error.message).toContain('deployment.log_retention_days');
    expect(error.message).toContain('one of 1, 3, 5, 7, 14, 30');
  });

  it('keeps logs a year when log_retention_days is left out, the least Control Tower (CT.CLOUDWATCH.PR.2) accepts at synth', () => {
    // Arrange: the shipped file without the key.
    const path = configWith((t) => t.replace(/^log_retention_days = .*$/m, ''));
    expect(readFileSync(path, 'utf8')).not.toContain('log_retention_days');

    // Act / Assess
    expect(loadDeploymentSettings(path).deployment.log_retention_days).toBe(365);
  });

  it('names an unknown key', () => {
    const error = errorOf(() => loadDeploymentSettings(configWith((t) => t.replace('stage_name = "prod"', 'stage_name = "prod"\nstage = "x"'))));
    expect(error.message).toContain('deployment.stage: unknown key');
  });

  it('refuses a route throttle for a route the route table does not have', () => {
    const error = errorOf(() => loadDeploymentSettings(configWith((t) => t.replace('"$connect" = {', '"connect" = {'))));
    expect(error.message).toContain('deployment.route_throttling');
  });

  it('requires exactly one Kafka source', () => {
    const error = errorOf(() => loadDeploymentSettings(shipped, { 'deployment.kafka.bootstrap_servers': '["b-1.example.internal:9096"]' }));
    expect(error.message).toContain('deployment.kafka.msk_cluster_arn: set exactly one of msk_cluster_arn');
    expect(error.message).toContain('deployment.kafka.scram_secret_arn: required with bootstrap_servers');
  });

  it('requires a [deployment] table', () => {
    const error = errorOf(() => loadDeploymentSettings(configWith((t) => t.slice(0, t.indexOf('# ----')))));
    expect(error.message).toContain('deployment: missing');
  });

  it('lets CDK context override single keys (-c) and whole tables (cdk.json)', () => {
    const { deployment, service } = loadDeploymentSettings(shipped, {
      'deployment.kafka.batch_size': '50',
      'deployment.kafka.starting_position': 'TRIM_HORIZON',
      'notification_service.kafka.topics': '["orders","bookings"]',
      deployment: { alarms: { email: 'oncall@example.com' } },
    });
    expect(deployment.kafka).toMatchObject({ batch_size: 50, starting_position: 'TRIM_HORIZON', consumer_group: 'notifications-fanout' });
    expect(deployment.alarms).toEqual({ email: 'oncall@example.com', dlq_depth_threshold: 1 });
    expect(service.kafka.topics).toEqual(['orders', 'bookings']);
  });

  it('names a bad context override as such', () => {
    const error = errorOf(() => loadDeploymentSettings(shipped, { 'deployment.kafka.batch_size': '0' }));
    expect(error.message).toContain('with context deployment.kafka.batch_size');
    expect(error.message).toContain('deployment.kafka.batch_size');
  });
});
