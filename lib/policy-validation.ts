import {
  Stack,
  Token,
  Validations,
  type App,
  type IPolicyValidationContextBeta1,
  type IPolicyValidationPluginBeta1,
  type PolicyValidationPluginReportBeta1,
} from 'aws-cdk-lib';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks } from 'cdk-nag';
import type { IConstruct } from 'constructs';

/** The plugin name `CfnGuardValidator` reports under; the namespace of its rule ids. */
export const CFN_GUARD_PLUGIN = 'cdk-validator-cfnguard';

/**
 * The AWS Control Tower proactive controls this app cannot meet everywhere, by the
 * cfn-guard rule name a finding carries (the control id is in docs/security.md).
 */
export const CONTROL_TOWER_RULES = {
  /** CT.APIGATEWAY.PR.5: every API Gateway v2 route has an authorization type. */
  routeAuthorization: 'api_gw_v2_authorization_type_configured_check',
  /** CT.LAMBDA.PR.2: a service principal's permission names a SourceAccount or SourceArn cfn-guard can read. */
  permissionSource: 'lambda_function_public_access_prohibited_check',
  /** CT.LAMBDA.PR.3: every function runs in a VPC. */
  functionInVpc: 'lambda_inside_vpc_check',
  /** CT.CLOUDWATCH.PR.2: log groups are kept for at least 365 days. */
  logRetention: 'cloudwatch_log_group_retention_period_check',
  /** CT.S3.PR.2: every bucket has server access logging. */
  bucketLogging: 's3_bucket_logging_enabled_check',
} as const;

export type ControlTowerRule = keyof typeof CONTROL_TOWER_RULES;

/**
 * Context key: Control Tower rule files to skip (`-c cfnguard_disabled_rules='["ct-cloudwatch-pr-2"]'`),
 * for an account that does not enforce them (for example shorter log retention).
 */
export const DISABLED_RULES_CONTEXT = 'cfnguard_disabled_rules';

/**
 * Runs cdk-nag's AwsSolutions pack and AWS Control Tower's proactive controls (cfn-guard)
 * over every template when `app` synthesizes: an unacknowledged finding of either fails
 * the synthesis.
 */
export function addPolicyValidation(app: App): void {
  const disabled = app.node.tryGetContext(DISABLED_RULES_CONTEXT);
  const disabledRules = typeof disabled === 'string' ? (JSON.parse(disabled) as unknown) : disabled;
  if (disabledRules !== undefined && !(Array.isArray(disabledRules) && disabledRules.every((rule) => typeof rule === 'string'))) {
    throw new Error(`context ${DISABLED_RULES_CONTEXT}: ${JSON.stringify(disabled)} is not a list of rule file names (allowed: ["ct-cloudwatch-pr-2", ...])`);
  }
  Validations.of(app).addPlugins(
    new AwsSolutionsChecks(app),
    new ControlTowerChecks(new CfnGuardValidator({ controlTowerRulesEnabled: true, disabledRules: disabledRules ?? [], maxBuffer: 64 * 1024 * 1024 })),
  );
}

/**
 * CfnGuardValidator, with every finding an error. It reports findings without a severity;
 * once any finding of its report is acknowledged, CDK recomputes the report's outcome from
 * the severities left, and findings without one no longer fail the synth.
 */
class ControlTowerChecks implements IPolicyValidationPluginBeta1 {
  readonly name: string;
  readonly version?: string;
  readonly ruleIds?: string[];

  constructor(private readonly guard: CfnGuardValidator) {
    this.name = guard.name;
    this.version = guard.version;
    this.ruleIds = guard.ruleIds;
  }

  validate(context: IPolicyValidationContextBeta1): PolicyValidationPluginReportBeta1 {
    const report = this.guard.validate(context);
    return { ...report, violations: report.violations.map((violation) => ({ ...violation, severity: violation.severity ?? 'error' })) };
  }
}

/** Acknowledges one Control Tower rule for `scope` and everything under it, with the reason. */
export function acknowledgeControl(scope: IConstruct, rule: ControlTowerRule, reason: string): void {
  Validations.of(scope).acknowledge({ id: `${CFN_GUARD_PLUGIN}::${CONTROL_TOWER_RULES[rule]}`, reason });
}

/** How cdk-nag prints the start of an ARN of this stack in a finding id (tokens as `<...>`). */
export function nagArnPrefix(scope: IConstruct, service: string): string {
  const stack = Stack.of(scope);
  // A literal when the region is known (@aws-cdk/core:enablePartitionLiterals).
  const partition = Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition;
  const region = Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region;
  const account = Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account;
  return `arn:${partition}:${service}:${region}:${account}`;
}
