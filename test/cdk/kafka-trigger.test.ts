import { App, Duration, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { describe, expect, it } from 'vitest';
import { KafkaTrigger, type KafkaTriggerProps } from '../../lib/kafka-trigger.js';

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
