import { ArnFormat, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { nagArnPrefix } from './policy-validation.js';

/** Throttling of the stage or of one route. */
export interface RouteThrottle {
  /** Steady-state requests per second. */
  readonly rateLimit: number;
  /** Requests allowed in a burst. */
  readonly burstLimit: number;
}

export interface WebSocketApiStageProps {
  readonly api: apigwv2.WebSocketApi;
  /**
   * The last path segment of both URLs.
   * @default 'prod'
   */
  readonly stageName?: string;
  /**
   * Stage-wide throttling.
   * @default DEFAULT_STAGE_THROTTLE - 500 requests per second, bursts of 1000
   */
  readonly throttle?: RouteThrottle;
  /**
   * Throttling per route key (`$connect`, `subscribe`, ...), over the stage default.
   * @default - every route uses the stage default
   */
  readonly routeThrottles?: Readonly<Record<string, RouteThrottle>>;
  /**
   * Retention of the access and execution log groups.
   * @default logs.RetentionDays.ONE_YEAR - Control Tower's minimum (CT.CLOUDWATCH.PR.2)
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Customer managed key of both log groups (CT.CLOUDWATCH.PR.3).
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * Of both log groups.
   * @default RemovalPolicy.RETAIN
   */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * Create the account-wide API Gateway CloudWatch role (`AWS::ApiGateway::Account`)
   * that WebSocket logging needs. An account has one; leave this off when it exists.
   * @default false
   */
  readonly manageApiGatewayAccount?: boolean;
}

export const DEFAULT_STAGE_THROTTLE: RouteThrottle = { rateLimit: 500, burstLimit: 1000 };

/**
 * The deployed stage of a WebSocket API: stage-wide and per-route throttling, access logs,
 * the execution log group (API Gateway would otherwise create it without retention or key),
 * and optionally the account's API Gateway CloudWatch role. Functions that post to or close
 * connections are allowed with {@link grantManagementApiAccess}.
 */
export class WebSocketApiStage extends Construct {
  readonly stage: apigwv2.WebSocketStage;
  readonly stageName: string;
  /** `wss://` URL clients connect to. */
  readonly url: string;
  /** `https://` Management API endpoint (post to and close connections). */
  readonly callbackUrl: string;
  readonly accessLogs: logs.LogGroup;
  readonly executionLogs: logs.LogGroup;
  private readonly api: apigwv2.WebSocketApi;

  constructor(scope: Construct, id: string, props: WebSocketApiStageProps) {
    super(scope, id);
    const stageName = props.stageName ?? 'prod';
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(stageName)) {
      throw new Error(`WebSocketApiStage: stageName ${JSON.stringify(stageName)} is invalid (allowed: 1-128 letters, digits, _ and -)`);
    }
    const throttle = props.throttle ?? DEFAULT_STAGE_THROTTLE;
    validateThrottle('throttle', throttle);
    for (const [routeKey, routeThrottle] of Object.entries(props.routeThrottles ?? {})) validateThrottle(`routeThrottles.${routeKey}`, routeThrottle);
    const logging = {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      encryptionKey: props.logEncryptionKey,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
    };
    this.api = props.api;
    this.stageName = stageName;

    this.accessLogs = new logs.LogGroup(this, 'AccessLogs', logging);
    this.stage = new apigwv2.WebSocketStage(this, 'Resource', {
      webSocketApi: props.api,
      stageName,
      autoDeploy: true,
      throttle: { rateLimit: throttle.rateLimit, burstLimit: throttle.burstLimit },
      detailedMetricsEnabled: true,
      accessLogSettings: { destination: new apigwv2.LogGroupLogDestination(this.accessLogs), format: accessLogFormat() },
    });
    // The L2 stage sets throttling only; logging level, data trace and per-route settings
    // are CloudFormation properties it does not expose.
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    cfnStage.addPropertyOverride('DefaultRouteSettings', routeSettings(throttle));
    const perRoute = Object.entries(props.routeThrottles ?? {});
    if (perRoute.length > 0) {
      cfnStage.addPropertyOverride('RouteSettings', Object.fromEntries(perRoute.map(([routeKey, routeThrottle]) => [routeKey, routeSettings(routeThrottle)])));
    }
    // API Gateway creates the execution log group on first use, without retention;
    // creating it first gives it one. Its name is API Gateway's, so one stage makes one.
    this.executionLogs = new logs.LogGroup(this, 'ExecutionLogs', {
      logGroupName: `API-Gateway-Execution-Logs_${props.api.apiId}/${stageName}`,
      ...logging,
    });
    if (props.manageApiGatewayAccount) this.stage.node.addDependency(this.createApiGatewayAccount());

    this.url = this.stage.url;
    this.callbackUrl = this.stage.callbackUrl;
  }

  /**
   * Lets `grantee` post to and close this stage's connections
   * (`execute-api:ManageConnections` on `@connections/*` of this API and stage).
   */
  grantManagementApiAccess(grantee: iam.IGrantable): iam.Grant {
    const grant = this.stage.grantManagementApiAccess(grantee);
    if (grantee.grantPrincipal instanceof Construct) {
      const apiLogicalId = Stack.of(this).getLogicalId(this.api.node.defaultChild as apigwv2.CfnApi);
      Validations.of(grantee.grantPrincipal).acknowledge({
        id: `AwsSolutions-IAM5[Resource::${nagArnPrefix(this, 'execute-api')}:<${apiLogicalId}>/${this.stageName}/*/@connections/*]`,
        reason: 'Connection ids are created at run time; the grant is limited to the @connections paths of this API and stage.',
      });
    }
    return grant;
  }

  private createApiGatewayAccount(): Construct {
    const role = new iam.Role(this, 'ApiGatewayCloudWatchRole', {
      assumedBy: new iam.ServicePrincipal('apigateway.amazonaws.com'),
      description: 'Lets API Gateway write access and execution logs (account-wide setting)',
      inlinePolicies: {
        logs: new iam.PolicyDocument({
          statements: [
            new iam.PolicyStatement({
              actions: [
                'logs:CreateLogGroup',
                'logs:CreateLogStream',
                'logs:DescribeLogGroups',
                'logs:DescribeLogStreams',
                'logs:PutLogEvents',
                'logs:GetLogEvents',
                'logs:FilterLogEvents',
              ],
              resources: [Stack.of(this).formatArn({ service: 'logs', resource: 'log-group', resourceName: '*', arnFormat: ArnFormat.COLON_RESOURCE_NAME })],
            }),
          ],
        }),
      },
    });
    Validations.of(role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::${nagArnPrefix(this, 'logs')}:log-group:*]`,
      reason: 'API Gateway writes the logs of every API of the account and region through this one role (AWS::ApiGateway::Account).',
    });
    // Other APIs of the account log through this role too: it outlives the stack.
    role.applyRemovalPolicy(RemovalPolicy.RETAIN);
    const account = new apigateway.CfnAccount(this, 'ApiGatewayAccount', { cloudWatchRoleArn: role.roleArn });
    account.applyRemovalPolicy(RemovalPolicy.RETAIN);
    return account;
  }
}

function validateThrottle(name: string, throttle: RouteThrottle): void {
  if (!(throttle.rateLimit > 0)) throw new Error(`WebSocketApiStage: ${name}.rateLimit ${throttle.rateLimit} must be above 0`);
  if (!Number.isInteger(throttle.burstLimit) || throttle.burstLimit < 1) {
    throw new Error(`WebSocketApiStage: ${name}.burstLimit ${throttle.burstLimit} must be an integer of at least 1`);
  }
}

/** One route's settings: its throttling, errors only in the execution log, no payloads logged. */
function routeSettings(throttle: RouteThrottle): Record<string, unknown> {
  return {
    ThrottlingRateLimit: throttle.rateLimit,
    ThrottlingBurstLimit: throttle.burstLimit,
    LoggingLevel: 'ERROR',
    DataTraceEnabled: false,
    DetailedMetricsEnabled: true,
  };
}

function accessLogFormat(): apigateway.AccessLogFormat {
  return apigateway.AccessLogFormat.custom(
    JSON.stringify({
      requestId: '$context.requestId',
      extendedRequestId: '$context.extendedRequestId',
      ip: '$context.identity.sourceIp',
      requestTime: '$context.requestTime',
      eventType: '$context.eventType',
      routeKey: '$context.routeKey',
      connectionId: '$context.connectionId',
      status: '$context.status',
      error: '$context.error.message',
      integrationError: '$context.integration.error',
      authorizerError: '$context.authorizer.error',
      integrationLatency: '$context.integration.latency',
    }),
  );
}
