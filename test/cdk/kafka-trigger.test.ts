import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { KafkaTrigger, type KafkaTriggerProps } from '../../lib/kafka-trigger.js';
import { MAPPING_ERROR_HANDLING } from '../../local/kafka/event-source-mapping.js';

const SCRAM = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:AmazonMSK_notifications-AbCdEf';

function build(props: Omit<KafkaTriggerProps, 'target' | 'source'> & { source?: KafkaTriggerProps['source'] } = { topics: ['orders'] }) {
  const stack = new Stack(new App(), 'Test', { env: { account: '111122223333', region: 'eu-west-1' } });
  const target = new lambda.Function(stack, 'Target', {
    runtime: lambda.Runtime.NODEJS_24_X,
    handler: 'index.handler',
    code: lambda.Code.fromInline('exports.handler = async () => ({})'),
  });
  const source = props.source ?? {
    kind: 'selfManaged' as const,
    bootstrapServers: ['b-1.example.internal:9096'],
    scramSecret: secretsmanager.Secret.fromSecretCompleteArn(stack, 'Scram', SCRAM),
    subnetIds: ['subnet-0123456789abcdef0'],
    securityGroupIds: ['sg-0123456789abcdef0'],
  };
  const trigger = new KafkaTrigger(stack, 'Trigger', { ...props, source, target });
  return { stack, trigger, template: Template.fromStack(stack) };
}

describe('KafkaTrigger', () => {
  describe('self-managed brokers', () => {
    it('authenticates with SASL/SCRAM and reaches the brokers from the given subnets', () => {
      const { template } = build({ topics: ['orders', 'bookings'], consumerGroupPrefix: 'fanout', batchSize: 10, maxBatchingWindow: Duration.seconds(2) });
      template.resourceCountIs('AWS::Lambda::EventSourceMapping', 2);
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        Topics: ['orders'],
        SelfManagedEventSource: { Endpoints: { KafkaBootstrapServers: ['b-1.example.internal:9096'] } },
        SelfManagedKafkaEventSourceConfig: { ConsumerGroupId: 'fanout-orders' },
        SourceAccessConfigurations: [
          { Type: 'SASL_SCRAM_512_AUTH', URI: SCRAM },
          { Type: 'VPC_SUBNET', URI: 'subnet:subnet-0123456789abcdef0' },
          { Type: 'VPC_SECURITY_GROUP', URI: 'security_group:sg-0123456789abcdef0' },
        ],
        BatchSize: 10,
        MaximumBatchingWindowInSeconds: 2,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
      template.hasResourceProperties('AWS::IAM::Policy', {
        PolicyDocument: {
          Statement: Match.arrayWith([Match.objectLike({ Action: ['secretsmanager:GetSecretValue', 'secretsmanager:DescribeSecret'], Resource: SCRAM })]),
        },
      });
    });

    it('grants no MSK actions', () => {
      const { template } = build();
      expect(JSON.stringify(template.toJSON())).not.toContain('kafka-cluster:');
    });
  });

  describe('discarded batches', () => {
    it('keeps every batch that still fails after its retries whole, in an S3 bucket (the invocation record with the event)', () => {
      const { stack, trigger, template } = build({ topics: ['orders', 'bookings'] });
      const bucketId = stack.getLogicalId(trigger.parkedRecords.node.defaultChild as any);
      const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
      expect(mappings).toHaveLength(2);
      for (const mapping of mappings) {
        // SQS and SNS destinations get Lambda's metadata only; S3 gets the payload too.
        expect(mapping.Properties.DestinationConfig).toEqual({ OnFailure: { Destination: { 'Fn::GetAtt': [bucketId, 'Arn'] } } });
      }
    });

    it('configures what the local stand-in plays: partial batch responses, bisect on error, 3 retries unless set', () => {
      const { template } = build();
      template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionResponseTypes: MAPPING_ERROR_HANDLING.reportBatchItemFailures ? ['ReportBatchItemFailures'] : Match.absent(),
        BisectBatchOnFunctionError: MAPPING_ERROR_HANDLING.bisectBatchOnError,
        MaximumRetryAttempts: MAPPING_ERROR_HANDLING.defaultRetryAttempts,
      });
      build({ topics: ['orders'], retryAttempts: 7 }).template.hasResourceProperties('AWS::Lambda::EventSourceMapping', { MaximumRetryAttempts: 7 });
    });

    it('encrypts the bucket with KMS, keeps versions, blocks public access and plain HTTP, retains it, and expires what nobody replayed', () => {
      const { template, trigger, stack } = build({ topics: ['orders'], parkedRecordRetention: Duration.days(30) });
      const bucketId = stack.getLogicalId(trigger.parkedRecords.node.defaultChild as any);
      const bucket = template.toJSON().Resources[bucketId];
      expect(bucket.DeletionPolicy).toBe('Retain');
      expect(bucket.Properties).toMatchObject({
        BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'aws:kms' }, BucketKeyEnabled: true }] },
        VersioningConfiguration: { Status: 'Enabled' },
        ObjectLockEnabled: true,
        PublicAccessBlockConfiguration: { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true },
        OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
        LifecycleConfiguration: {
          Rules: [expect.objectContaining({ Status: 'Enabled', ExpirationInDays: 30, NoncurrentVersionExpiration: { NoncurrentDays: 1 } })],
        },
      });
      // No default retention: the replay deletes what it replayed.
      expect(bucket.Properties.ObjectLockConfiguration).toBeUndefined();
      template.hasResourceProperties('AWS::S3::BucketPolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    });

    it('grants the function only PutObject and ListBucket on this bucket, in this account', () => {
      const { template, trigger, stack } = build();
      const bucketId = stack.getLogicalId(trigger.parkedRecords.node.defaultChild as any);
      const statements = Object.values(template.findResources('AWS::IAM::Policy')).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement);
      const onBucket = statements.filter((statement: any) => JSON.stringify(statement.Resource).includes(bucketId));
      expect(onBucket.map((statement: any) => statement.Action).sort()).toEqual(['s3:ListBucket', 's3:PutObject']);
      for (const statement of onBucket) expect(statement.Condition).toEqual({ StringEquals: { 's3:ResourceAccount': { Ref: 'AWS::AccountId' } } });
      expect(JSON.stringify(statements)).not.toMatch(/s3:(GetObject|DeleteObject|\*)/);
    });

    it('lets an operator role replay: list, read and delete the parked objects', () => {
      const stack = new Stack(new App(), 'Replay', { env: { account: '111122223333', region: 'eu-west-1' } });
      const target = lambda.Function.fromFunctionArn(stack, 'Target', 'arn:aws:lambda:eu-west-1:111122223333:function:fanout');
      const clusterArn = 'arn:aws:kafka:eu-west-1:111122223333:cluster/notifications/uuid-1';
      const trigger = new KafkaTrigger(stack, 'Trigger', { topics: ['orders'], source: { kind: 'msk', clusterArn }, target });
      const role = new iam.Role(stack, 'Operator', { assumedBy: new iam.AccountRootPrincipal() });
      trigger.grantReplay(role);
      Template.fromStack(stack).hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: stack.getLogicalId(role.node.defaultChild as any) }],
        PolicyDocument: { Statement: [Match.objectLike({ Action: ['s3:ListBucket', 's3:GetObject', 's3:DeleteObject'] })] },
      });
    });

    it('refuses a retention under a day', () => {
      expect(() => build({ topics: ['orders'], parkedRecordRetention: Duration.hours(2) })).toThrow(/parkedRecordRetention 2 hours is too short/);
    });
  });

  describe('validation', () => {
    it('refuses an empty topic list', () => {
      expect(() => build({ topics: [] })).toThrow(/topics is empty/);
    });

    it('refuses subnets without security groups', () => {
      expect(() =>
        build({
          topics: ['orders'],
          source: { kind: 'selfManaged', bootstrapServers: ['b:9096'], scramSecret: undefined as never, subnetIds: ['subnet-0123456789abcdef0'] },
        }),
      ).toThrow(/subnetIds and securityGroupIds go together/);
    });

    it('refuses AT_TIMESTAMP, naming the allowed positions', () => {
      expect(() => build({ topics: ['orders'], startingPosition: lambda.StartingPosition.AT_TIMESTAMP })).toThrow(
        /AT_TIMESTAMP.*allowed: LATEST, TRIM_HORIZON/,
      );
    });
  });
});
