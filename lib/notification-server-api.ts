import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import * as apigateway from 'aws-cdk-lib/aws-apigateway';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { SERVER_API_ROUTES, type ServerApiOperation } from '../protocol/server-api.js';
import { nagArnPrefix } from './policy-validation.js';

/** Requests per second (steady) and burst of the server API's stage. */
export interface ServerApiThrottle {
  readonly rateLimit: number;
  readonly burstLimit: number;
}

export interface NotificationServerApiProps {
  /** The function behind every route (lambdas/handlers/server-api.ts). */
  readonly handler: lambda.IFunction;
  /** @default { rateLimit: 50, burstLimit: 100 } */
  readonly throttle?: ServerApiThrottle;
  /** @default logs.RetentionDays.ONE_YEAR - Control Tower's minimum (CT.CLOUDWATCH.PR.2) */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Customer managed key of the access log group (CT.CLOUDWATCH.PR.3).
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
  /** Of the access log group. @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
}

export const DEFAULT_SERVER_API_THROTTLE: ServerApiThrottle = { rateLimit: 50, burstLimit: 100 };

/**
 * The server API (docs/protocol.md, "Server API"): an HTTP API whose every route,
 * `$default` included, requires AWS_IAM (SigV4) authorization, in front of one
 * function. Callers are allowed with {@link grantServerApi}.
 */
export class NotificationServerApi extends Construct {
  readonly api: apigwv2.HttpApi;
  readonly stage: apigwv2.HttpStage;
  /** `https://{apiId}.execute-api.{region}.amazonaws.com/`: append `publish`, `stats`, ... */
  readonly url: string;

  constructor(scope: Construct, id: string, props: NotificationServerApiProps) {
    super(scope, id);
    const throttle = props.throttle ?? DEFAULT_SERVER_API_THROTTLE;
    for (const [name, value] of Object.entries(throttle)) {
      if (!Number.isFinite(value) || value < 0) {
        throw new Error(`NotificationServerApi: throttle.${name} ${value} is invalid (allowed: a number >= 0)`);
      }
    }
    const integration = new HttpLambdaIntegration('Integration', props.handler, {
      payloadFormatVersion: apigwv2.PayloadFormatVersion.VERSION_2_0,
    });
    const authorizer = new HttpIamAuthorizer();
    this.api = new apigwv2.HttpApi(this, 'Api', {
      description: 'Server API of the real-time notifications (IAM auth)',
      createDefaultStage: false,
      // Unmatched requests reach the function too (IAM still required), which answers
      // with a JSON 404/405 naming the routes, rather than API Gateway's bare "Not Found".
      defaultIntegration: integration,
      defaultAuthorizer: authorizer,
    });
    for (const route of SERVER_API_ROUTES) {
      this.api.addRoutes({ path: route.path, methods: [apigwv2.HttpMethod[route.method]], integration, authorizer });
    }
    const accessLogs = new logs.LogGroup(this, 'AccessLogs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN,
      encryptionKey: props.logEncryptionKey,
    });
    this.stage = new apigwv2.HttpStage(this, 'Stage', {
      httpApi: this.api,
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: throttle.rateLimit, burstLimit: throttle.burstLimit },
      detailedMetricsEnabled: true,
      accessLogSettings: {
        destination: new apigwv2.LogGroupLogDestination(accessLogs),
        format: apigateway.AccessLogFormat.custom(
          JSON.stringify({
            requestId: '$context.requestId',
            ip: '$context.identity.sourceIp',
            caller: '$context.identity.caller',
            userArn: '$context.identity.userArn',
            requestTime: '$context.requestTime',
            routeKey: '$context.routeKey',
            status: '$context.status',
            error: '$context.error.message',
            integrationError: '$context.integrationErrorMessage',
            integrationLatency: '$context.integrationLatency',
          }),
        ),
      },
    });
    this.url = this.stage.url;
  }

  /**
   * Lets `grantee` (a backend's role) call the server API: `execute-api:Invoke` on each
   * route's method and path of this API.
   * @param operations the routes to allow, by operation (`publish`, `disconnectUser`,
   *   `presence`, `stats`). @default - every route
   */
  grantServerApi(grantee: iam.IGrantable, operations?: readonly ServerApiOperation[]): iam.Grant {
    const known = SERVER_API_ROUTES.map((route) => route.operation);
    for (const operation of operations ?? []) {
      if (!known.includes(operation)) {
        throw new Error(`NotificationServerApi.grantServerApi: operation ${JSON.stringify(operation)} is unknown (allowed: ${known.join(', ')})`);
      }
    }
    if (operations?.length === 0) throw new Error('NotificationServerApi.grantServerApi: operations is empty (omit it to allow every route)');
    const routes = SERVER_API_ROUTES.filter((route) => !operations || operations.includes(route.operation));
    const resourceArns = routes.map((route) => this.api.arnForExecuteApi(route.method, route.path.replace(/\{[^}]+\}/g, '*'), this.stage.stageName));
    const grant = iam.Grant.addToPrincipal({ grantee, actions: ['execute-api:Invoke'], resourceArns });
    if (grantee.grantPrincipal instanceof Construct) {
      const apiArn = `${nagArnPrefix(this, 'execute-api')}:<${Stack.of(this).getLogicalId(this.api.node.defaultChild as apigwv2.CfnApi)}>`;
      for (const route of routes.filter((candidate) => candidate.path.includes('{'))) {
        Validations.of(grantee.grantPrincipal).acknowledge({
          id: `AwsSolutions-IAM5[Resource::${apiArn}/${this.stage.stageName}/${route.method}${route.path.replace(/\{[^}]+\}/g, '*')}]`,
          reason: 'User ids are chosen at run time: the wildcard stands for the one {userId} segment of this route, of this API and stage.',
        });
      }
    }
    return grant;
  }
}
