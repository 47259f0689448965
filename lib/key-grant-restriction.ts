import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';

/**
 * Adds the key policy statement of Control Tower's CT.KMS.PR.3: nobody may create a grant
 * on `key` unless the grant is for an AWS resource or the caller is an AWS service. The
 * services this app's keys serve (CloudWatch Logs, CloudWatch alarms to SNS) use the key
 * directly under their key policy statement, not through grants.
 */
export function restrictGrantsToAwsServices(key: kms.Key): void {
  key.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: 'GrantsOnlyForAwsResources',
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ['kms:CreateGrant'],
      // In a key policy, "*" is this key.
      resources: ['*'],
      conditions: {
        BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' },
      },
    }),
  );
}
