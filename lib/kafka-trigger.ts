import { ArnFormat, Aws, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { createFailureQueue } from './failure-queue.js';
import { acknowledgeControl } from './policy-validation.js';

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
  /**
   * How long a discarded batch stays in the parked-records bucket (and a replayed one,
   * as a noncurrent version, a day more).
   * @default Duration.days(14) - the on-failure queue's retention
   */
  readonly parkedRecordRetention?: Duration;
  /**
   * What happens to the parked-records bucket when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
}

const STARTING_POSITIONS = [lambda.StartingPosition.LATEST, lambda.StartingPosition.TRIM_HORIZON];

/**
 * The Kafka trigger of the fan-out function: an event source mapping per topic, partial
 * batch responses, batches that still fail after their retries kept whole in an S3 bucket
 * (Lambda's invocation record with the event, so every record's value: `npm run replay`
 * publishes them again), and an IAM policy limited to this cluster, its topics and this
 * consumer group. It does not use `ManagedKafkaEventSource`, which attaches the AWS
 * managed `AWSLambdaMSKExecutionRole`.
 */
export class KafkaTrigger extends Construct {
  /**
   * The service's failure queue (encrypted, with its own dead-letter queue): the fan-out's
   * letters (invalid records, failed posts) and worker invocations that failed for good.
   */
  readonly onFailureQueue: sqs.Queue;
  /**
   * The event source mappings' on-failure destination: per discarded batch, one object
   * holding Lambda's invocation record and, in `payload`, the whole event. An SQS or SNS
   * destination would get the metadata only, and the records' values would be lost.
   */
  readonly parkedRecords: s3.Bucket;
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
    this.parkedRecords = createParkedRecordsBucket(this, 'ParkedRecords', props);

    const common: lambda.EventSourceMappingOptions = {
      batchSize: props.batchSize ?? 100,
      maxBatchingWindow: props.maxBatchingWindow ?? Duration.seconds(0),
      startingPosition,
      onFailure: new ParkedRecordsDestination(this.parkedRecords),
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

  /** Lets `grantee` (an operator's role) run `npm run replay` against the bucket: list, read and delete what was parked. */
  grantReplay(grantee: iam.IGrantable): iam.Grant {
    return iam.Grant.addToPrincipal({
      grantee,
      actions: ['s3:ListBucket', 's3:GetObject', 's3:DeleteObject'],
      resourceArns: [this.parkedRecords.bucketArn, this.parkedRecords.arnForObjects('*')],
    });
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

/**
 * The mappings' on-failure destination with only what Lambda needs (s3:PutObject and
 * s3:ListBucket, https://docs.aws.amazon.com/lambda/latest/dg/kafka-on-failure.html), limited to
 * buckets of this account, rather than `S3OnFailureDestination`'s `grantReadWrite`.
 */
class ParkedRecordsDestination implements lambda.IEventSourceDlq {
  constructor(private readonly bucket: s3.IBucket) {}

  bind(_target: lambda.IEventSourceMapping, targetHandler: lambda.IFunction): lambda.DlqDestinationConfig {
    const principal = targetHandler.grantPrincipal;
    // A deleted bucket's name can be taken by another account: never write there.
    const conditions = { StringEquals: { 's3:ResourceAccount': Aws.ACCOUNT_ID } };
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ParkedRecordsWrite', actions: ['s3:PutObject'], resources: [this.bucket.arnForObjects('*')], conditions }),
    );
    principal.addToPrincipalPolicy(
      new iam.PolicyStatement({ sid: 'ParkedRecordsList', actions: ['s3:ListBucket'], resources: [this.bucket.bucketArn], conditions }),
    );
    if (principal instanceof Construct) {
      const bucketId = Stack.of(this.bucket).getLogicalId(this.bucket.node.defaultChild as s3.CfnBucket);
      Validations.of(principal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
        reason: 'Lambda names each failure record object itself (aws/lambda/{mapping}/...); the grant is PutObject on this one bucket.',
      });
    }
    return { destination: this.bucket.bucketArn };
  }
}

/**
 * Where discarded batches are kept: KMS-encrypted (the AWS managed key, which Lambda may
 * use without a key grant), versioned, with object lock available (no default retention,
 * so the replay can delete), public access blocked, TLS only, EventBridge notified of
 * each new object, and a lifecycle that expires what nobody replayed.
 */
function createParkedRecordsBucket(scope: Construct, id: string, props: KafkaTriggerProps): s3.Bucket {
  const retention = props.parkedRecordRetention ?? Duration.days(14);
  if (retention.toDays({ integral: false }) < 1) {
    throw new Error(`KafkaTrigger: parkedRecordRetention ${retention.toHumanString()} is too short (allowed: 1 day or more)`);
  }
  const bucket = new s3.Bucket(scope, id, {
    encryption: s3.BucketEncryption.KMS_MANAGED,
    bucketKeyEnabled: true,
    enforceSSL: true,
    blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
    objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
    versioned: true,
    objectLockEnabled: true,
    removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    lifecycleRules: [
      {
        id: 'expire-parked-records',
        expiration: Duration.days(Math.ceil(retention.toDays({ integral: false }))),
        noncurrentVersionExpiration: Duration.days(1),
        abortIncompleteMultipartUploadAfter: Duration.days(1),
      },
    ],
  });
  // Set on the resource: `eventBridgeEnabled` would add a custom resource (a function and
  // a role) only to write this one property.
  (bucket.node.defaultChild as s3.CfnBucket).notificationConfiguration = { eventBridgeConfiguration: { eventBridgeEnabled: true } };
  const reason =
    'Server access logs need a target bucket, and S3 delivers them only to one encrypted with SSE-S3 (against CT.S3.PR.10) that would need logs of its own; reads and deletes of parked records are S3 data events for CloudTrail.';
  Validations.of(bucket).acknowledge({ id: 'AwsSolutions-S1', reason });
  acknowledgeControl(bucket, 'bucketLogging', reason);
  return bucket;
}
