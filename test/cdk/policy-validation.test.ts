import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as logs from 'aws-cdk-lib/aws-logs';
import { afterEach, describe, expect, it } from 'vitest';
import { addPolicyValidation, CFN_GUARD_PLUGIN } from '../../lib/policy-validation.js';

const outdirs: string[] = [];
afterEach(() => {
  for (const dir of outdirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** An app with the app's policy validation and one log group under no KMS key (CT.CLOUDWATCH.PR.3). */
function appWithUnencryptedLogGroup(): { app: App; logGroup: logs.LogGroup } {
  const outdir = mkdtempSync(join(tmpdir(), 'policy-validation-'));
  outdirs.push(outdir);
  const app = new App({ outdir });
  addPolicyValidation(app);
  const stack = new Stack(app, 'Probe', { env: { account: '111122223333', region: 'eu-west-1' } });
  const logGroup = new logs.LogGroup(stack, 'Logs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY });
  return { app, logGroup };
}

describe('addPolicyValidation', () => {
  it('fails the synthesis on an unacknowledged Control Tower finding, naming the rule and the resource', () => {
    const { app } = appWithUnencryptedLogGroup();

    expect(() => app.synth()).toThrow(/CT\.CLOUDWATCH\.PR\.3[\s\S]*Probe\/Logs[\s\S]*cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check/);
  }, 120_000);

  it('lets the synthesis pass once the finding is acknowledged with a reason', () => {
    const { app, logGroup } = appWithUnencryptedLogGroup();
    Validations.of(logGroup).acknowledge({ id: `${CFN_GUARD_PLUGIN}::cloudwatch_log_group_encrypted_check`, reason: 'a probe' });

    expect(() => app.synth()).not.toThrow();
  }, 120_000);

  it('still fails on the findings left when another one is acknowledged', () => {
    const { app, logGroup } = appWithUnencryptedLogGroup();
    const other = new logs.LogGroup(Stack.of(logGroup), 'OtherLogs', { retention: logs.RetentionDays.ONE_YEAR, removalPolicy: RemovalPolicy.DESTROY });
    Validations.of(other).acknowledge({ id: `${CFN_GUARD_PLUGIN}::cloudwatch_log_group_encrypted_check`, reason: 'a probe' });

    expect(() => app.synth()).toThrow(/Probe\/Logs\/Resource/);
  }, 120_000);
});
