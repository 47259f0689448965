import { fileURLToPath } from 'node:url';
import { Aspects, Duration, RemovalPolicy, Stack, Token, Validations, type IAspect } from 'aws-cdk-lib';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsDestination } from 'aws-cdk-lib/aws-lambda-destinations';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct, type IConstruct } from 'constructs';
import type { TableId } from '../protocol/tables.js';
import { notificationServiceSchema, type ServiceConfig } from '../lambdas/config/schema.js';
import {
  AUTHORIZER,
  CLEANUP,
  FANOUT,
  FANOUT_WORKER,
  FUNCTIONS,
  ROUTE_SELECTION_EXPRESSION,
  ROUTES,
  SERVER_API,
  type FunctionDefinition,
} from '../protocol/routes.js';
import { createFailureQueue } from './failure-queue.js';
import { FUNCTION_ACCESS, INVOKED_FUNCTIONS, type FunctionAccess } from './function-access.js';
import { KafkaTrigger, type KafkaTriggerProps } from './kafka-trigger.js';
import { LogEncryptionKey } from './log-encryption-key.js';
import { NotificationMonitoring } from './notification-monitoring.js';
import { NotificationServerApi, type ServerApiThrottle } from './notification-server-api.js';
import type { ServerApiOperation } from '../protocol/server-api.js';
import { NotificationTables, type TableAccess } from './notification-tables.js';
import { acknowledgeControl } from './policy-validation.js';
import { ServiceFunction, type ServiceLogLevel } from './service-function.js';
import { WebSocketRoutes } from './websocket-routes.js';
import { type RouteThrottle, WebSocketApiStage } from './websocket-stage.js';

export type { RouteThrottle } from './websocket-stage.js';

/**
 * The Kafka trigger of the fan-out function: KafkaTrigger's props, less what the
 * construct supplies (the fan-out function, and the topics of `serviceConfig.kafka.topics`).
 */
export type NotificationKafkaOptions = Omit<KafkaTriggerProps, 'target' | 'topics'>;

export interface NotificationWebSocketApiProps {
  /**
   * The `[notification_service]` section of Config.toml, handed to every function as
   * `SERVICE_CONFIG`.
   * @default - the protocol's defaults
   */
  readonly serviceConfig?: ServiceConfig;
  /**
   * Stage name; the last path segment of both URLs.
   * @default 'prod'
   */
  readonly stageName?: string;
  /**
   * What happens to the tables and the generated JWT secret when they leave the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Retention of every log group.
   * @default logs.RetentionDays.ONE_YEAR - Control Tower's minimum (CT.CLOUDWATCH.PR.2)
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Customer managed key of every log group (CT.CLOUDWATCH.PR.3); its policy must let
   * CloudWatch Logs of this region use it.
   * @default - a `LogEncryptionKey` created with the stack's removal policy
   */
  readonly logEncryptionKey?: kms.IKey;
  /** @default 'INFO' */
  readonly logLevel?: ServiceLogLevel;
  /** Memory of every function, MB. @default 512 */
  readonly memorySize?: number;
  /**
   * Stage-wide throttling.
   * @default - 500 requests per second, bursts of 1000
   */
  readonly throttle?: RouteThrottle;
  /**
   * Throttling per route key (`$connect`, `subscribe`, ...), over the stage default.
   * @default - every route uses the stage default
   */
  readonly routeThrottles?: Readonly<Record<string, RouteThrottle>>;
  /**
   * HS256 verifier key (auth.mode = "hs256"): a secret whose string value is the key.
   * Must be unset for auth.mode = "jwks".
   * @default - a generated 64-character secret (auth.mode = "hs256")
   */
  readonly jwtSecret?: secretsmanager.ISecret;
  /**
   * The Kafka source of the fan-out function.
   * @default - no trigger: notifications reach the fan-out function only if you invoke it
   */
  readonly kafka?: NotificationKafkaOptions;
  /**
   * How often cleanup runs.
   * @default Duration.minutes(5)
   */
  readonly cleanupInterval?: Duration;
  /**
   * Throttling of the server API's stage (its own, apart from the WebSocket API's).
   * @default DEFAULT_SERVER_API_THROTTLE - 50 requests per second, burst 100
   */
  readonly serverApiThrottle?: ServerApiThrottle;
  /**
   * Where alarms notify.
   * @default - a topic created for the purpose (`monitoring.alarmTopic`)
   */
  readonly alarmTopic?: sns.ITopic;
  /** @default 1 */
  readonly dlqDepthThreshold?: number;
  /**
   * Create the account-wide API Gateway CloudWatch role (`AWS::ApiGateway::Account`)
   * that access logging needs. An account has one; leave this off when it exists.
   * @default false
   */
  readonly manageApiGatewayAccount?: boolean;
  /**
   * Directory holding `package-lock.json` and the modules the route table names.
   * @default - this repository's root
   */
  readonly projectRoot?: string;
}

const ROUTE_KEYS = ROUTES.map((route) => route.routeKey);

/**
 * The real-time notification service: a WebSocket API whose routes, authorizer and
 * functions come from the route table, the DynamoDB tables from the table list, the
 * Kafka trigger of the fan-out, the cleanup schedule, alarms and a dashboard.
 */
export class NotificationWebSocketApi extends Construct {
  readonly api: apigwv2.WebSocketApi;
  /** The stage: throttling, access and execution logs, the Management API grants. */
  readonly stage: WebSocketApiStage;
  /** The routes of the route table, with the `$connect` authorizer. */
  readonly routes: WebSocketRoutes;
  /** `wss://` URL clients connect to. */
  readonly url: string;
  /** `https://` Management API endpoint (post to and close connections). */
  readonly callbackUrl: string;
  readonly tables: NotificationTables;
  /** Every function, by route table id (`Connect`, ..., `Authorizer`, `Welcome`, `Fanout`, `Cleanup`). */
  readonly functions: Readonly<Record<string, ServiceFunction>>;
  /** The HS256 key, when auth.mode = "hs256". */
  readonly jwtSecret?: secretsmanager.ISecret;
  readonly kafkaTrigger?: KafkaTrigger;
  /**
   * What could not be delivered: invalid records and failed posts (dead letters of the
   * fan-out), worker invocations that failed for good, and the Kafka trigger's failed
   * batches. The Kafka trigger's on-failure queue when there is a trigger.
   */
  readonly deadLetterQueue: sqs.IQueue;
  readonly cleanupRule: events.Rule;
  readonly monitoring: NotificationMonitoring;
  /** The server API (HTTP API, AWS_IAM on every route); allow callers with {@link grantServerApi}. */
  readonly serverApi: NotificationServerApi;

  constructor(scope: Construct, id: string, props: NotificationWebSocketApiProps = {}) {
    super(scope, id);
    const config = props.serviceConfig ?? notificationServiceSchema.parse({});
    const removalPolicy = props.removalPolicy ?? RemovalPolicy.RETAIN;
    const cleanupInterval = props.cleanupInterval ?? Duration.minutes(5);
    validateProps(props, config, cleanupInterval);
    const projectRoot = props.projectRoot ?? fileURLToPath(new URL('..', import.meta.url));

    this.tables = new NotificationTables(this, 'Tables', { removalPolicy });
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_YEAR;
    const logEncryptionKey = props.logEncryptionKey ?? new LogEncryptionKey(this, 'LogEncryptionKey', { removalPolicy }).key;

    this.api = new apigwv2.WebSocketApi(this, 'Api', {
      routeSelectionExpression: ROUTE_SELECTION_EXPRESSION,
      description: 'Real-time notifications',
    });
    this.stage = new WebSocketApiStage(this, 'Stage', {
      api: this.api,
      stageName: props.stageName,
      throttle: props.throttle,
      routeThrottles: props.routeThrottles,
      logRetention,
      logEncryptionKey,
      removalPolicy,
      manageApiGatewayAccount: props.manageApiGatewayAccount,
    });
    this.url = this.stage.url;
    this.callbackUrl = this.stage.callbackUrl;

    // Never ship the local HS256 secret; in AWS the key comes from Secrets Manager.
    const { hs256_secret: _localSecret, ...awsAuth } = config.auth;
    const serviceConfigJson = JSON.stringify({ ...config, auth: awsAuth });
    const functions: Record<string, ServiceFunction> = {};
    for (const definition of FUNCTIONS) {
      functions[definition.id] = this.createFunction(definition, {
        projectRoot,
        serviceConfigJson,
        timeout: FUNCTION_ACCESS[definition.id].timeout,
        removalPolicy,
        logRetention,
        logEncryptionKey,
        props,
      });
    }
    this.functions = functions;

    this.routes = new WebSocketRoutes(this, 'Routes', {
      api: this.api,
      routes: ROUTES,
      functions: Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.function])),
      authorizer: functions[AUTHORIZER.id].function,
    });

    if (props.kafka) {
      this.kafkaTrigger = new KafkaTrigger(this, 'KafkaTrigger', {
        target: functions[FANOUT.id].function,
        topics: config.kafka.topics,
        removalPolicy,
        ...props.kafka,
      });
    }
    this.deadLetterQueue = this.kafkaTrigger?.onFailureQueue ?? this.createDeadLetterQueue();
    this.jwtSecret = config.auth.mode === 'hs256' ? (props.jwtSecret ?? this.createJwtSecret(removalPolicy)) : undefined;
    for (const definition of FUNCTIONS) this.grantFunctionAccess(functions[definition.id], FUNCTION_ACCESS[definition.id]);

    // Lambda retries a failed worker invocation twice before its event goes to the dead-letter queue.
    functions[FANOUT_WORKER.id].function.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new SqsDestination(this.deadLetterQueue),
    });
    this.serverApi = new NotificationServerApi(this, 'ServerApi', {
      handler: functions[SERVER_API.id].function,
      throttle: props.serverApiThrottle,
      logRetention,
      logEncryptionKey,
      removalPolicy,
    });

    this.cleanupRule = new events.Rule(this, 'CleanupSchedule', {
      schedule: events.Schedule.rate(cleanupInterval),
      description: 'Closes and removes connections silent for longer than idle_timeout or whose token expired',
      targets: [new targets.LambdaFunction(functions[CLEANUP.id].function, { retryAttempts: 2 })],
    });

    this.monitoring = new NotificationMonitoring(this, 'Monitoring', {
      functions: Object.fromEntries(Object.entries(functions).map(([name, fn]) => [name, fn.function])),
      apiId: this.api.apiId,
      stageName: this.stage.stageName,
      onFailureQueue: this.deadLetterQueue,
      dlqDepthThreshold: props.dlqDepthThreshold,
      alarmTopic: props.alarmTopic,
    });

    Aspects.of(this).add(new PermissionSourceAccount());
  }

  private createDeadLetterQueue(): sqs.Queue {
    return createFailureQueue(this, 'DeadLetterQueue');
  }

  /**
   * Lets `grantee` (a backend's role) call the server API (`execute-api:Invoke`): every
   * route, or the `operations` named (`publish`, `disconnectUser`, `presence`, `stats`).
   */
  grantServerApi(grantee: iam.IGrantable, operations?: readonly ServerApiOperation[]): iam.Grant {
    return this.serverApi.grantServerApi(grantee, operations);
  }

  /** Lets `grantee` post to and close this stage's connections. */
  grantManageConnections(grantee: iam.IGrantable): iam.Grant {
    return this.stage.grantManagementApiAccess(grantee);
  }

  private createFunction(
    definition: FunctionDefinition,
    options: {
      projectRoot: string;
      serviceConfigJson: string;
      timeout?: Duration;
      removalPolicy: RemovalPolicy;
      logRetention: logs.RetentionDays;
      logEncryptionKey: kms.IKey;
      props: NotificationWebSocketApiProps;
    },
  ): ServiceFunction {
    // Suffixed: a child called `Default` would become this construct's default child
    // and vanish from logical ids.
    return new ServiceFunction(this, `${definition.id}Handler`, {
      definition,
      projectRoot: options.projectRoot,
      environment: { SERVICE_CONFIG: options.serviceConfigJson, ...this.tables.environment },
      logRetention: options.logRetention,
      logEncryptionKey: options.logEncryptionKey,
      logRemovalPolicy: options.removalPolicy,
      logLevel: options.props.logLevel,
      memorySize: options.props.memorySize,
      timeout: options.timeout,
    });
  }

  /**
   * Gives `fn` what its FUNCTION_ACCESS entry says, each grant with the environment
   * variable that tells the handler where the resource is.
   */
  private grantFunctionAccess(fn: ServiceFunction, access: FunctionAccess): void {
    for (const [tableId, tableAccess] of Object.entries(access.tables) as [TableId, TableAccess][]) {
      this.tables.grant(fn.role, tableId, tableAccess);
    }
    if (access.managesConnections) {
      fn.addEnvironment('MANAGEMENT_ENDPOINT', this.callbackUrl);
      this.stage.grantManagementApiAccess(fn.role);
    }
    for (const invoked of access.invokes ?? []) {
      const target = this.functions[invoked].function;
      fn.addEnvironment(INVOKED_FUNCTIONS[invoked], target.functionName);
      fn.role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ['lambda:InvokeFunction'], resources: [target.functionArn] }));
    }
    if (access.sendsDeadLetters) {
      fn.addEnvironment('DEAD_LETTER_QUEUE_URL', this.deadLetterQueue.queueUrl);
      this.deadLetterQueue.grantSendMessages(fn.role);
    }
    // Without a secret (auth.mode = "jwks") the verifiers fetch the key set instead.
    if (access.verifiesTokens && this.jwtSecret) {
      fn.addEnvironment('JWT_SECRET_ARN', this.jwtSecret.secretArn);
      this.jwtSecret.grantRead(fn.role);
    }
  }

  private createJwtSecret(removalPolicy: RemovalPolicy): secretsmanager.ISecret {
    const secret = new secretsmanager.Secret(this, 'JwtSecret', {
      description: 'HS256 key that signs client tokens of the notification service',
      generateSecretString: { passwordLength: 64, excludePunctuation: true },
      removalPolicy,
    });
    Validations.of(secret).acknowledge({
      id: 'AwsSolutions-SMG4',
      reason:
        'The HS256 key is shared with the token issuer; rotating it needs the issuer to switch at the same time, which a rotation Lambda cannot coordinate.',
    });
    return secret;
  }
}

/** Refuses props the service cannot deploy, naming the value and what is allowed. */
function validateProps(props: NotificationWebSocketApiProps, config: ServiceConfig, cleanupInterval: Duration): void {
  // The stage checks the throttles themselves; which route keys exist, the route table says.
  for (const routeKey of Object.keys(props.routeThrottles ?? {})) {
    if (!ROUTE_KEYS.includes(routeKey)) {
      throw new Error(`NotificationWebSocketApi: routeThrottles has unknown route ${routeKey} (allowed: ${ROUTE_KEYS.join(', ')})`);
    }
  }
  if (cleanupInterval.toMinutes({ integral: false }) < 1 || cleanupInterval.toMinutes({ integral: false }) > 1440) {
    throw new Error(`NotificationWebSocketApi: cleanupInterval ${cleanupInterval.toHumanString()} is out of range (allowed: 1 minute to 24 hours)`);
  }
  if (config.auth.mode === 'jwks') {
    if (!config.auth.jwks_url) {
      throw new Error('NotificationWebSocketApi: notification_service.auth.jwks_url is required when auth.mode is "jwks"');
    }
    if (props.jwtSecret) {
      throw new Error('NotificationWebSocketApi: jwtSecret is for auth.mode "hs256"; auth.mode is "jwks" (allowed: unset)');
    }
  }
  for (const definition of FUNCTIONS) {
    if (!FUNCTION_ACCESS[definition.id]) {
      throw new Error(`NotificationWebSocketApi: function ${definition.id} has no entry in FUNCTION_ACCESS (lib/function-access.ts)`);
    }
  }
}

/**
 * Lambda permissions for AWS services already carry a SourceArn (this API, this rule), but
 * one that CloudFormation builds with Fn::Join, which cfn-guard cannot read
 * (CT.LAMBDA.PR.2). With a known account the permission also names it as SourceAccount, a
 * string the rule accepts; with an unknown one (offline synth) the finding is acknowledged.
 */
class PermissionSourceAccount implements IAspect {
  visit(node: IConstruct): void {
    if (!(node instanceof lambda.CfnPermission)) return;
    if (typeof node.principal !== 'string' || !node.principal.endsWith('.amazonaws.com') || node.sourceAccount || !node.sourceArn) return;
    const account = Stack.of(node).account;
    if (!Token.isUnresolved(account)) {
      node.sourceAccount = account;
    } else {
      acknowledgeControl(
        node,
        'permissionSource',
        'The permission has a SourceArn naming this API or rule (Fn::Join of this account and region); cfn-guard reads only literal strings. The account is unknown at synth, so SourceAccount cannot be a literal either.',
      );
    }
  }
}
