import { ArnFormat, Duration, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDlq } from 'aws-cdk-lib/aws-lambda-event-sources';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { createFailureQueue } from './failure-queue.js';

/** Amazon MSK with IAM authentication. */
export interface MskKafkaSource {
  readonly kind: 'msk';
  /** `arn:aws:kafka:{region}:{account}:cluster/{name}/{uuid}`; a token is fine. */
  readonly clusterArn: string;
}

/** Self-managed brokers with SASL/SCRAM, optionally reached from inside a VPC. */
export interface SelfManagedKafkaSource {
  readonly kind: 'selfManaged';
  /** `host:port` pairs. */
  readonly bootstrapServers: readonly string[];
  /** Secret holding `{"username": ..., "password": ...}`. */
  readonly scramSecret: secretsmanager.ISecret;
  /** @default 'SHA-512' */
  readonly scramMechanism?: 'SHA-512' | 'SHA-256';
  /** Subnets the poller reaches the brokers from. @default - brokers are reached over the internet */
  readonly subnetIds?: readonly string[];
  /** Security groups of the poller's network interfaces. @default - none (required with subnetIds) */
  readonly securityGroupIds?: readonly string[];
}

export type KafkaSource = MskKafkaSource | SelfManagedKafkaSource;

export interface KafkaTriggerProps {
  /** The function the records are delivered to. */
  readonly target: lambda.IFunction;
  readonly source: KafkaSource;
  /** One event source mapping per topic (Lambda takes one topic per mapping). */
  readonly topics: readonly string[];
  /**
   * Consumer group prefix; the mapping of topic T joins `{consumerGroupPrefix}-{T}`.
   * @default 'notifications-fanout'
   */
  readonly consumerGroupPrefix?: string;
  /** @default 100 */
  readonly batchSize?: number;
  /** @default Duration.seconds(0) - invoke as soon as records arrive */
  readonly maxBatchingWindow?: Duration;
  /** @default lambda.StartingPosition.LATEST */
  readonly startingPosition?: lambda.StartingPosition;
  /** Retries of a failing batch before it is set aside. @default 3 */
  readonly retryAttempts?: number;
  /** @default 1 */
  readonly minimumPollers?: number;
  /** @default 2 */
  readonly maximumPollers?: number;
}

const STARTING_POSITIONS = [lambda.StartingPosition.LATEST, lambda.StartingPosition.TRIM_HORIZON];

/**
 * The Kafka trigger of the fan-out function: an event source mapping per topic, batches
 * that keep failing set aside in an encrypted SQS queue (with its own dead-letter queue), partial batch responses, and an
 * IAM policy limited to this cluster, its topics and this consumer group. It does not use
 * `ManagedKafkaEventSource`, which attaches the AWS managed `AWSLambdaMSKExecutionRole`.
 */
export class KafkaTrigger extends Construct {
  /** Where batches that cannot be processed go (the event source's on-failure destination). */
  readonly onFailureQueue: sqs.Queue;
  readonly mappings: readonly lambda.EventSourceMapping[];

  constructor(scope: Construct, id: string, props: KafkaTriggerProps) {
    super(scope, id);
    if (props.topics.length === 0) throw new Error('KafkaTrigger: topics is empty (at least one topic is required)');
    const prefix = props.consumerGroupPrefix ?? 'notifications-fanout';
    const startingPosition = props.startingPosition ?? lambda.StartingPosition.LATEST;
    if (!STARTING_POSITIONS.includes(startingPosition)) {
      throw new Error(`KafkaTrigger: startingPosition ${startingPosition} is not supported (allowed: ${STARTING_POSITIONS.join(', ')})`);
    }
    const source = props.source;
    if (source.kind === 'selfManaged') {
      if (source.bootstrapServers.length === 0) throw new Error('KafkaTrigger: bootstrapServers is empty (at least one host:port)');
      if ((source.subnetIds === undefined) !== (source.securityGroupIds === undefined)) {
        throw new Error('KafkaTrigger: subnetIds and securityGroupIds go together (set both or neither)');
      }
    }
    const grantee = props.target;

    this.onFailureQueue = createFailureQueue(this, 'OnFailureQueue');

    const common: lambda.EventSourceMappingOptions = {
      batchSize: props.batchSize ?? 100,
      maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(0),
      startingPosition,
      onFailure: new SqsDlq(this.onFailureQueue),
      reportBatchItemFailures: true,
      bisectBatchOnError: true,
      retryAttempts: props.retryAttempts ?? 3,
      // Retries, bisecting and partial batch responses exist for Kafka only in provisioned mode.
      provisionedPollerConfig: { minimumPollers: props.minimumPollers ?? 1, maximumPollers: props.maximumPollers ?? 2 },
    };

    const mappings: lambda.EventSourceMapping[] = [];
    if (source.kind === 'msk') {
      for (const topic of props.topics) {
        mappings.push(
          props.target.addEventSourceMapping(`Mapping-${topic}`, {
            ...common,
            eventSourceArn: source.clusterArn,
            kafkaTopic: topic,
            kafkaConsumerGroupId: `${prefix}-${topic}`,
          }),
        );
      }
      this.grantMsk(grantee, source.clusterArn, props.topics, prefix);
    } else {
      const access: lambda.SourceAccessConfiguration[] = [
        {
          type:
            source.scramMechanism === 'SHA-256'
              ? lambda.SourceAccessConfigurationType.SASL_SCRAM_256_AUTH
              : lambda.SourceAccessConfigurationType.SASL_SCRAM_512_AUTH,
          uri: source.scramSecret.secretArn,
        },
        ...(source.subnetIds ?? []).map((id) => ({ type: lambda.SourceAccessConfigurationType.VPC_SUBNET, uri: `subnet:${id}` })),
        ...(source.securityGroupIds ?? []).map((id) => ({
          type: lambda.SourceAccessConfigurationType.VPC_SECURITY_GROUP,
          uri: `security_group:${id}`,
        })),
      ];
      for (const topic of props.topics) {
        mappings.push(
          props.target.addEventSourceMapping(`Mapping-${topic}`, {
            ...common,
            kafkaBootstrapServers: [...source.bootstrapServers],
            kafkaTopic: topic,
            kafkaConsumerGroupId: `${prefix}-${topic}`,
            sourceAccessConfigurations: access,
          }),
        );
      }
      source.scramSecret.grantRead(grantee);
      if (source.subnetIds) this.grantNetworkInterfaces(grantee);
    }
    this.mappings = mappings;
  }

  private grantMsk(grantee: iam.IGrantable, clusterArn: string, topics: readonly string[], prefix: string): void {
    const stack = Stack.of(this);
    // cluster/{name}/{uuid} -> topic/{name}/{uuid}/{topic} and group/{name}/{uuid}/{group}
    const parts = stack.splitArn(clusterArn, ArnFormat.SLASH_RESOURCE_NAME);
    const kafkaArn = (resource: string, name: string) => stack.formatArn({ ...parts, resource, resourceName: `${parts.resourceName}/${name}` });
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'MskCluster',
        actions: [
          'kafka:DescribeCluster',
          'kafka:DescribeClusterV2',
          'kafka:GetBootstrapBrokers',
          'kafka-cluster:Connect',
          'kafka-cluster:DescribeClusterDynamicConfiguration',
        ],
        resources: [clusterArn],
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'MskTopics',
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        resources: topics.map((topic) => kafkaArn('topic', topic)),
      }),
    );
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        sid: 'MskConsumerGroups',
        actions: ['kafka-cluster:DescribeGroup', 'kafka-cluster:AlterGroup'],
        resources: topics.map((topic) => kafkaArn('group', `${prefix}-${topic}`)),
      }),
    );
    // The MSK poller runs in the cluster's VPC through network interfaces it creates as this role.
    this.grantNetworkInterfaces(grantee);
  }

  private grantNetworkInterfaces(grantee: iam.IGrantable): void {
    const statement = new iam.PolicyStatement({
      sid: 'KafkaPollerNetworkInterfaces',
      actions: [
        'ec2:CreateNetworkInterface',
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeVpcs',
        'ec2:DeleteNetworkInterface',
        'ec2:DescribeSubnets',
        'ec2:DescribeSecurityGroups',
      ],
      // EC2 Describe* actions support no resource-level permissions, and the interfaces
      // do not exist yet when they are created.
      resources: ['*'],
    });
    grantee.grantPrincipal.addToPrincipalPolicy(statement);
    if (grantee.grantPrincipal instanceof Construct) {
      Validations.of(grantee.grantPrincipal).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'The Kafka poller creates and describes its network interfaces as this role; EC2 offers no resource-level scope for these actions.',
      });
    }
  }
}
