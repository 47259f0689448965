import { Annotations, CfnOutput, Duration, RemovalPolicy, Stack, Tags, type StackProps } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import type { Construct } from 'constructs';
import type { DeploymentConfig, KafkaDeploymentConfig } from './deployment-schema.js';
import type { DeploymentSettings } from './deployment-config.js';
import type { KafkaSource } from './kafka-trigger.js';
import { NotificationWebSocketApi } from './notification-websocket-api.js';

/** The account id of the placeholder ARNs in the shipped Config.toml. */
export const PLACEHOLDER_ACCOUNT = '123456789012';

export interface NotificationStackProps extends StackProps {
  /** Config.toml, validated, with context overrides applied. */
  readonly settings: DeploymentSettings;
  /**
   * Directory holding `package-lock.json` and the handler modules.
   * @default - this repository's root
   */
  readonly projectRoot?: string;
}

/** The deployable stack: the service construct configured from Config.toml, and its outputs. */
export class NotificationStack extends Stack {
  readonly service: NotificationWebSocketApi;

  constructor(scope: Construct, id: string, props: NotificationStackProps) {
    super(scope, id, props);
    const { service: serviceConfig, deployment } = props.settings;
    if (!deployment.kafka) {
      throw new Error('deployment.kafka: missing; set msk_cluster_arn or bootstrap_servers (see README, "Deploy")');
    }
    const removalPolicy = deployment.removal_policy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.service = new NotificationWebSocketApi(this, 'Notifications', {
      serviceConfig,
      stageName: deployment.stage_name,
      removalPolicy,
      logRetention: deployment.log_retention_days as logs.RetentionDays,
      logLevel: deployment.log_level,
      memorySize: deployment.memory_mb,
      throttle: { rateLimit: deployment.throttling.rate, burstLimit: deployment.throttling.burst },
      routeThrottles: Object.fromEntries(
        Object.entries(deployment.route_throttling).map(([routeKey, t]) => [routeKey, { rateLimit: t!.rate, burstLimit: t!.burst }]),
      ),
      jwtSecret: deployment.jwt_secret_arn ? secretsmanager.Secret.fromSecretCompleteArn(this, 'JwtSecret', deployment.jwt_secret_arn) : undefined,
      kafka: {
        source: this.kafkaSource(deployment.kafka),
        consumerGroupPrefix: deployment.kafka.consumer_group,
        batchSize: deployment.kafka.batch_size,
        maxBatchingWindow: Duration.seconds(deployment.kafka.batching_window_seconds),
        startingPosition: lambda.StartingPosition[deployment.kafka.starting_position],
        retryAttempts: deployment.kafka.retry_attempts,
        minimumPollers: deployment.kafka.min_pollers,
        maximumPollers: deployment.kafka.max_pollers,
      },
      cleanupInterval: Duration.minutes(deployment.cleanup_rate_minutes),
      alarmTopic: this.alarmTopic(deployment),
      dlqDepthThreshold: deployment.alarms.dlq_depth_threshold,
      manageApiGatewayAccount: deployment.api_gateway_account_role,
      projectRoot: props.projectRoot,
    });
    if (deployment.alarms.email) {
      this.service.monitoring.alarmTopic.addSubscription(new subscriptions.EmailSubscription(deployment.alarms.email));
    }
    for (const [key, value] of Object.entries(deployment.tags)) Tags.of(this).add(key, value);
    this.warnAboutPlaceholders(deployment);

    new CfnOutput(this, 'WebSocketUrl', { value: this.service.url, description: 'wss:// URL clients connect to (add ?token=<JWT>)' });
    new CfnOutput(this, 'CallbackUrl', { value: this.service.callbackUrl, description: 'Management API endpoint (@connections)' });
    new CfnOutput(this, 'ServerApiUrl', {
      value: this.service.serverApi.url,
      description: 'Server API (SigV4, service execute-api): POST publish, POST users/{userId}/disconnect, GET users/{userId}/presence, GET stats',
    });
    if (this.service.jwtSecret) {
      new CfnOutput(this, 'JwtSecretArn', { value: this.service.jwtSecret.secretArn, description: 'HS256 key the token issuer signs with' });
    }
    if (this.service.kafkaTrigger) {
      new CfnOutput(this, 'OnFailureQueueUrl', {
        value: this.service.kafkaTrigger.onFailureQueue.queueUrl,
        description: 'Dead letters: invalid records, failed posts, worker invocations that failed for good',
      });
      new CfnOutput(this, 'ParkedRecordsBucket', {
        value: this.service.kafkaTrigger.parkedRecords.bucketName,
        description: 'Kafka batches discarded after their retries, kept whole: npm run replay -- --source <this> --server-api-url <ServerApiUrl>',
      });
    }
    new CfnOutput(this, 'AlarmTopicArn', {
      value: this.service.monitoring.alarmTopic.topicArn,
      description: 'Every alarm notifies this topic (subscribe to it, or set deployment.alarms.email)',
    });
    new CfnOutput(this, 'DashboardName', { value: this.service.monitoring.dashboard.dashboardName });
  }

  private kafkaSource(kafka: KafkaDeploymentConfig): KafkaSource {
    if (kafka.msk_cluster_arn) return { kind: 'msk', clusterArn: kafka.msk_cluster_arn };
    return {
      kind: 'selfManaged',
      bootstrapServers: kafka.bootstrap_servers ?? [],
      // The schema guarantees a SCRAM secret with bootstrap_servers.
      scramSecret: secretsmanager.Secret.fromSecretCompleteArn(this, 'KafkaScramSecret', kafka.scram_secret_arn!),
      scramMechanism: kafka.scram_mechanism,
      subnetIds: kafka.subnet_ids,
      securityGroupIds: kafka.security_group_ids,
    };
  }

  private alarmTopic(deployment: DeploymentConfig): sns.ITopic | undefined {
    const arn = deployment.alarms.sns_topic_arn;
    return arn ? sns.Topic.fromTopicArn(this, 'AlarmTopic', arn) : undefined;
  }

  private warnAboutPlaceholders(deployment: DeploymentConfig): void {
    const arns = [deployment.kafka?.msk_cluster_arn, deployment.kafka?.scram_secret_arn, deployment.jwt_secret_arn];
    for (const arn of arns) {
      if (arn?.split(':')[4] === PLACEHOLDER_ACCOUNT) {
        Annotations.of(this).addWarningV2(
          'notifications:placeholder-arn',
          `${arn} is the example's placeholder: the stack synthesizes, but deploying it fails until Config.toml (or -c deployment.kafka.msk_cluster_arn=...) names your resource`,
        );
      }
    }
  }
}
