import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { SERVER_API_ROUTES } from '../../protocol/server-api.js';
import { NotificationServerApi } from '../../lib/notification-server-api.js';

/**
 * The server API construct on its own (a stand-in function, no bundling): IAM on every
 * route, the stage's throttling and access logs, and what grantServerApi allows.
 */
describe('NotificationServerApi', () => {
  let app: App;
  let stack: Stack;
  let serverApi: NotificationServerApi;
  let template: Template;
  let publisher: iam.Role;

  beforeAll(() => {
    app = new App();
    stack = new Stack(app, 'ServerApiStack', { env: { account: '111122223333', region: 'eu-west-1' } });
    const handler = new lambda.Function(stack, 'Handler', {
      runtime: lambda.Runtime.NODEJS_22_X,
      handler: 'index.handler',
      code: lambda.Code.fromInline('exports.handler = async () => ({ statusCode: 200 })'),
    });
    serverApi = new NotificationServerApi(stack, 'ServerApi', { handler, throttle: { rateLimit: 20, burstLimit: 40 } });
    const backend = new iam.Role(stack, 'Backend', { assumedBy: new iam.AccountRootPrincipal() });
    serverApi.grantServerApi(backend);
    publisher = new iam.Role(stack, 'Publisher', { assumedBy: new iam.AccountRootPrincipal() });
    serverApi.grantServerApi(publisher, ['publish']);
    template = Template.fromStack(stack);
  });

  it('is an HTTP API whose every route, $default included, requires AWS_IAM', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Api', { ProtocolType: 'HTTP' });
    const routes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).map((route: any) => route.Properties);
    expect(routes.map((route) => route.RouteKey).sort()).toEqual([...SERVER_API_ROUTES.map((route) => `${route.method} ${route.path}`), '$default'].sort());
    for (const route of routes) expect(route.AuthorizationType).toBe('AWS_IAM');
  });

  it('hands the function payload format 2.0 events', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Integration', { IntegrationType: 'AWS_PROXY', PayloadFormatVersion: '2.0' });
  });

  it('throttles and logs its $default stage', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: '$default',
      AutoDeploy: true,
      DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 20, ThrottlingBurstLimit: 40 }),
      AccessLogSettings: Match.objectLike({ DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('userArn') }),
    });
  });

  it('grantServerApi allows execute-api:Invoke on each route of this API and stage, nothing else', () => {
    template.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          Match.objectLike({
            Action: 'execute-api:Invoke',
            Effect: 'Allow',
            Resource: SERVER_API_ROUTES.map((route) =>
              Match.objectLike({
                'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp(`/\\$default/${route.method}${route.path.replace(/\{[^}]+\}/g, '\\*')}$`)])],
              }),
            ),
          }),
        ],
      },
    });
  });

  it('grantServerApi can allow some operations only, and names an unknown one', () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: stack.getLogicalId(publisher.node.defaultChild as iam.CfnRole) }] },
    });
    const statements = Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement);
    expect(statements).toHaveLength(1);
    expect(JSON.stringify(statements[0].Resource)).toMatch(/\/\$default\/POST\/publish"/);
    expect(JSON.stringify(statements[0].Resource)).not.toMatch(/users|stats/);
    expect(() => serverApi.grantServerApi(publisher, ['broadcast' as never])).toThrow(
      /operation "broadcast" is unknown \(allowed: publish, disconnectUser, presence, stats\)/,
    );
  });

  it('refuses a negative throttle, naming it', () => {
    expect(
      () =>
        new NotificationServerApi(new Stack(), 'Bad', {
          handler: lambda.Function.fromFunctionName(new Stack(), 'F', 'f'),
          throttle: { rateLimit: -1, burstLimit: 1 },
        }),
    ).toThrow(/throttle\.rateLimit -1 is invalid/);
  });

  it('passes cdk-nag (AwsSolutions) for the API, its stage and the granted role', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations
      .map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)
      // The stand-in function and its role are not part of the construct.
      .filter((finding) => !/ServerApiStack\/Handler/.test(finding));
    expect(findings).toEqual([]);
  });
});
