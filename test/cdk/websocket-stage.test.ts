import { App, Stack } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { WebSocketApiStage } from '../../lib/websocket-stage.js';

function apiIn(stack: Stack): apigwv2.WebSocketApi {
  return new apigwv2.WebSocketApi(stack, 'Api', { routeSelectionExpression: '$request.body.type' });
}

/**
 * The WebSocket stage construct on its own (an API without routes): throttling, both log
 * groups, the optional API Gateway account, and what grantManagementApiAccess allows.
 */
describe('WebSocketApiStage', () => {
  let app: App;
  let stack: Stack;
  let template: Template;
  let poster: iam.Role;
  let logKey: kms.Key;

  beforeAll(() => {
    app = new App();
    stack = new Stack(app, 'StageStack', { env: { account: '111122223333', region: 'eu-west-1' } });
    const api = apiIn(stack);
    logKey = new kms.Key(stack, 'LogKey', { enableKeyRotation: true });
    const stage = new WebSocketApiStage(stack, 'Stage', {
      api,
      stageName: 'live',
      throttle: { rateLimit: 10, burstLimit: 20 },
      routeThrottles: { $connect: { rateLimit: 1, burstLimit: 2 } },
      logEncryptionKey: logKey,
      manageApiGatewayAccount: true,
    });
    poster = new iam.Role(stack, 'Poster', { assumedBy: new iam.AccountRootPrincipal() });
    stage.grantManagementApiAccess(poster);
    template = Template.fromStack(stack);
  });

  it('throttles the stage and each configured route, logs errors only, and never logs payloads', () => {
    template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
      StageName: 'live',
      AutoDeploy: true,
      DefaultRouteSettings: { ThrottlingRateLimit: 10, ThrottlingBurstLimit: 20, LoggingLevel: 'ERROR', DataTraceEnabled: false, DetailedMetricsEnabled: true },
      RouteSettings: { $connect: Match.objectLike({ ThrottlingRateLimit: 1, ThrottlingBurstLimit: 2, LoggingLevel: 'ERROR', DataTraceEnabled: false }) },
      AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.connectionId') },
    });
  });

  it("creates the execution log group under API Gateway's own name, once, with retention and key like the access logs", () => {
    const groups = Object.values(template.findResources('AWS::Logs::LogGroup')).map((group: any) => group.Properties);
    expect(groups).toHaveLength(2);
    const keyArn = { 'Fn::GetAtt': [stack.getLogicalId(logKey.node.defaultChild as kms.CfnKey), 'Arn'] };
    for (const group of groups) expect(group).toMatchObject({ RetentionInDays: 365, KmsKeyId: keyArn });
    const named = groups.filter((group) => group.LogGroupName);
    expect(named).toHaveLength(1);
    expect(JSON.stringify(named[0].LogGroupName)).toMatch(/API-Gateway-Execution-Logs_".*\/live"/);
  });

  it('creates the account-wide CloudWatch role when asked, kept on stack deletion, and deploys the stage after it', () => {
    const accounts = template.findResources('AWS::ApiGateway::Account');
    expect(Object.values(accounts)).toEqual([expect.objectContaining({ DeletionPolicy: 'Retain' })]);
    const [stageResource] = Object.values(template.findResources('AWS::ApiGatewayV2::Stage')) as any[];
    expect(stageResource.DependsOn).toEqual(Object.keys(accounts));
  });

  it('creates no API Gateway account by default (an account has one)', () => {
    const other = new Stack(new App(), 'Other');
    new WebSocketApiStage(other, 'Stage', { api: apiIn(other) });
    const plain = Template.fromStack(other);
    plain.resourceCountIs('AWS::ApiGateway::Account', 0);
    plain.resourceCountIs('AWS::IAM::Role', 0);
    plain.hasResourceProperties('AWS::ApiGatewayV2::Stage', { StageName: 'prod', DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 500 }) });
  });

  it("grantManagementApiAccess allows ManageConnections on this API and stage's @connections only", () => {
    const policies = template.findResources('AWS::IAM::Policy', {
      Properties: { Roles: [{ Ref: stack.getLogicalId(poster.node.defaultChild as iam.CfnRole) }] },
    });
    const statements = Object.values(policies).flatMap((policy: any) => policy.Properties.PolicyDocument.Statement);
    expect(statements).toEqual([expect.objectContaining({ Action: 'execute-api:ManageConnections', Effect: 'Allow' })]);
    expect(JSON.stringify(statements[0].Resource)).toMatch(/\/live\/\*\/@connections\/\*"/);
  });

  it('refuses a stage name API Gateway would refuse, and throttles that are not positive, naming them', () => {
    const make = (props: Partial<ConstructorParameters<typeof WebSocketApiStage>[2]>) => () => {
      const scratch = new Stack();
      return new WebSocketApiStage(scratch, 'Stage', { api: apiIn(scratch), ...props });
    };
    expect(make({ stageName: 'my stage' })).toThrow(/stageName "my stage" is invalid \(allowed: 1-128 letters, digits, _ and -\)/);
    expect(make({ throttle: { rateLimit: 0, burstLimit: 1 } })).toThrow(/throttle\.rateLimit 0 must be above 0/);
    expect(make({ routeThrottles: { subscribe: { rateLimit: 1, burstLimit: 1.5 } } })).toThrow(/routeThrottles\.subscribe\.burstLimit 1\.5 must be an integer/);
  });

  it('passes cdk-nag (AwsSolutions) for the stage, its logs, the account role and the granted role', () => {
    const report = new AwsSolutionsChecks().validateScope(app);
    const findings = report.violations
      .map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`)
      // The API itself (no routes here) is not part of the construct.
      .filter((finding) => !/StageStack\/Api\//.test(finding));
    expect(findings).toEqual([]);
  });
});
