import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import type { CfnFunction } from 'aws-cdk-lib/aws-lambda';
import { AwsSolutionsChecks } from 'cdk-nag';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTROL_TOWER_RULES, CFN_GUARD_PLUGIN, addPolicyValidation } from '../../lib/policy-validation.js';
import { TABLES } from '../../protocol/tables.js';
import { AUTHORIZER, FUNCTIONS, ROUTE_SELECTION_EXPRESSION, ROUTES, SERVER_API, WELCOME } from '../../protocol/routes.js';
import { loadDeploymentSettings } from '../../lib/deployment-config.js';
import { FUNCTION_ACCESS } from '../../lib/function-access.js';
import { NotificationStack } from '../../lib/notification-stack.js';

/** The functions that verify client tokens: the $connect authorizer and the `refresh` route. */
const TOKEN_VERIFIERS: readonly string[] = [AUTHORIZER.id, 'Refresh'];

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

// Bundling thirteen functions is the slow part: synthesize once, from the shipped
// Config.toml, and let every test read the same template.
let outdir: string;
let app: App;
let stack: NotificationStack;
let template: Template;
/** What the app's policy validation (cdk-nag, Control Tower) threw at synth, if anything. */
let policyError: unknown;

beforeAll(() => {
  outdir = mkdtempSync(join(tmpdir(), 'notifications-cdk-'));
  // cdk.json's context (the feature flags) as `cdk synth` applies it; asset metadata tells
  // the tests which staged bundle belongs to which function.
  const { context } = JSON.parse(readFileSync(join(projectRoot, 'cdk.json'), 'utf8')) as { context: Record<string, unknown> };
  app = new App({ outdir, context: { ...context, 'aws:cdk:enable-asset-metadata': true } });
  addPolicyValidation(app);
  stack = new NotificationStack(app, 'NotificationStack', {
    settings: loadDeploymentSettings(join(projectRoot, 'Config.toml')),
    projectRoot,
    env: { account: '111122223333', region: 'eu-west-1' },
  });
  try {
    app.synth();
  } catch (error) {
    policyError = error;
  }
  template = Template.fromStack(stack);
}, 180_000);

afterAll(() => {
  if (outdir) rmSync(outdir, { recursive: true, force: true });
});

function logicalId(construct: { node: { defaultChild?: unknown } }): string {
  return Stack.of(stack).getLogicalId(construct.node.defaultChild as CfnFunction);
}

function functionResource(id: string): { Properties: Record<string, any>; Metadata?: Record<string, any> } {
  return template.toJSON().Resources[logicalId(stack.service.functions[id].function)];
}

function roleStatements(id: string): any[] {
  const roleId = Stack.of(stack).getLogicalId(stack.service.functions[id].role.node.defaultChild as CfnFunction);
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy: any) =>
    policy.Properties.Roles.some((role: any) => role.Ref === roleId),
  );
  return policies.flatMap((policy: any) => policy.Properties.PolicyDocument.Statement);
}

/**
 * The template with what changes on its own masked: asset hashes (the bundles change with
 * every handler edit) and the CDK analytics resource (it encodes the library version).
 */
function stableTemplate(): string {
  const { CDKMetadata: _analytics, ...resources } = template.toJSON().Resources;
  const json = JSON.stringify({ ...template.toJSON(), Resources: resources }, undefined, 2);
  return `${json.replace(/[0-9a-f]{64}/g, '<asset-hash>')}\n`;
}

describe('NotificationStack (shipped Config.toml)', () => {
  describe('template snapshot', () => {
    // A reviewed change to the template updates the file: npx vitest run test/cdk/notification-stack.test.ts -u
    it('matches the committed template (asset hashes masked)', async () => {
      await expect(stableTemplate()).toMatchFileSnapshot('__snapshots__/notification-stack.template.json');
    });
  });

  describe('cdk-nag', () => {
    it('reports nothing unacknowledged in the AwsSolutions pack', () => {
      const report = new AwsSolutionsChecks().validateScope(app);
      const findings = report.violations.map((v) => `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath).join(', ')}`);
      expect(findings).toEqual([]);
    });

    it("synthesizes with the app's policy validation: no unacknowledged cdk-nag or Control Tower finding", () => {
      expect(policyError).toBeUndefined();
    });

    it('acknowledges only the Control Tower rules that cannot hold, each with its reason', () => {
      const report = JSON.parse(readFileSync(join(outdir, 'validation-report.json'), 'utf8'));
      const guard = report.pluginReports.find((plugin: any) => plugin.pluginName === CFN_GUARD_PLUGIN);
      const acknowledged = new Map<string, Set<string>>();
      for (const violation of guard.suppressedViolations ?? []) {
        const reasons = acknowledged.get(violation.ruleName) ?? new Set<string>();
        for (const construct of violation.violatingConstructs) reasons.add(construct.reason ?? violation.reason ?? '');
        acknowledged.set(violation.ruleName, reasons);
      }
      // The account is known here, so every service permission carries a literal SourceAccount.
      expect([...acknowledged.keys()].sort()).toEqual(
        [CONTROL_TOWER_RULES.routeAuthorization, CONTROL_TOWER_RULES.functionInVpc, CONTROL_TOWER_RULES.bucketLogging].sort(),
      );
      expect(guard.violations).toEqual([]);
    });

    it('adds no error annotations', () => {
      Annotations.fromStack(stack).hasNoError('*', Match.anyValue());
    }, 120_000);
  });

  describe('server API', () => {
    it('outputs its URL, and its function delivers as the fan-out does (workers, on-failure queue)', () => {
      template.hasOutput('ServerApiUrl', { Value: Match.anyValue() });
      const variables = functionResource(SERVER_API.id).Properties.Environment.Variables;
      expect(Object.keys(variables)).toEqual(expect.arrayContaining(['FANOUT_WORKER_FUNCTION_NAME', 'DEAD_LETTER_QUEUE_URL', 'MANAGEMENT_ENDPOINT']));
      const actions = roleStatements(SERVER_API.id).flatMap((statement) => [statement.Action].flat());
      expect(actions).toEqual(expect.arrayContaining(['execute-api:ManageConnections', 'lambda:InvokeFunction', 'sqs:SendMessage']));
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: 'POST /publish', AuthorizationType: 'AWS_IAM' });
    });
  });

  describe('WebSocket API', () => {
    it('routes on the frame type', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Api', {
        ProtocolType: 'WEBSOCKET',
        RouteSelectionExpression: ROUTE_SELECTION_EXPRESSION,
      });
    });

    it("has exactly one route per route table entry, integrated with that entry's function", () => {
      // The server API's routes (an HTTP API of their own) are counted in test/cdk/server-api.test.ts.
      const webSocketApiId = Stack.of(stack).getLogicalId(stack.service.api.node.defaultChild as CfnFunction);
      const webSocketRoutes = Object.values(template.findResources('AWS::ApiGatewayV2::Route')).filter(
        (route: any) => route.Properties.ApiId.Ref === webSocketApiId,
      );
      expect(webSocketRoutes).toHaveLength(ROUTES.length);
      for (const route of ROUTES) {
        const routes = template.findResources('AWS::ApiGatewayV2::Route', { Properties: { RouteKey: route.routeKey, ApiId: { Ref: webSocketApiId } } });
        expect(Object.keys(routes), route.routeKey).toHaveLength(1);
        const target = Object.values(routes)[0].Properties.Target['Fn::Join'][1][1].Ref as string;
        const integration = template.toJSON().Resources[target];
        expect(JSON.stringify(integration.Properties.IntegrationUri)).toContain(logicalId(stack.service.functions[route.id].function));
      }
    });

    it('authorizes $connect only, with the token from the query string', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Authorizer', {
        AuthorizerType: 'REQUEST',
        IdentitySource: ['route.request.querystring.token'],
        AuthorizerUri: Match.objectLike({
          'Fn::Join': Match.arrayWith([
            Match.arrayWith([Match.objectLike({ 'Fn::GetAtt': [logicalId(stack.service.functions[AUTHORIZER.id].function), 'Arn'] })]),
          ]),
        }),
      });
      template.hasResourceProperties('AWS::ApiGatewayV2::Route', { RouteKey: '$connect', AuthorizationType: 'CUSTOM' });
      const others = template.findResources('AWS::ApiGatewayV2::Route', { Properties: { AuthorizationType: 'CUSTOM' } });
      expect(Object.keys(others)).toHaveLength(1);
    });

    it('has a route response exactly where the route table says the handler replies', () => {
      const replying = ROUTES.filter((route) => route.returnsReply);
      template.resourceCountIs('AWS::ApiGatewayV2::RouteResponse', replying.length);
      for (const route of ROUTES) {
        template.hasResourceProperties('AWS::ApiGatewayV2::Route', {
          RouteKey: route.routeKey,
          RouteResponseSelectionExpression: route.returnsReply ? '$default' : Match.absent(),
        });
      }
    });

    it('throttles the stage and the configured routes, and writes access logs', () => {
      template.hasResourceProperties('AWS::ApiGatewayV2::Stage', {
        StageName: 'prod',
        AutoDeploy: true,
        DefaultRouteSettings: Match.objectLike({ ThrottlingRateLimit: 500, ThrottlingBurstLimit: 1000 }),
        RouteSettings: { $connect: Match.objectLike({ ThrottlingRateLimit: 100, ThrottlingBurstLimit: 200 }) },
        AccessLogSettings: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('\\$context.requestId') },
      });
    });

    it('outputs the wss:// URL and the callback URL', () => {
      const outputs = template.toJSON().Outputs;
      expect(JSON.stringify(outputs.WebSocketUrl.Value)).toContain('wss://');
      expect(JSON.stringify(outputs.CallbackUrl.Value)).toContain('https://');
      expect(JSON.stringify(outputs.CallbackUrl.Value)).toContain('/prod');
    });
  });

  describe('functions', () => {
    it('creates one function per route table function, Node.js 24 on arm64', () => {
      template.resourceCountIs('AWS::Lambda::Function', FUNCTIONS.length);
      for (const definition of FUNCTIONS) {
        const { Properties } = functionResource(definition.id);
        expect(Properties, definition.id).toMatchObject({
          Handler: 'index.handler',
          Runtime: 'nodejs24.x',
          Architectures: ['arm64'],
          Description: definition.description,
          LoggingConfig: { LogGroup: { Ref: expect.stringContaining(`${definition.id}HandlerLogGroup`) } },
        });
      }
    });

    it('bundles each function from its route table entry, and the bundle exports handler', () => {
      for (const definition of FUNCTIONS) {
        const assetPath = functionResource(definition.id).Metadata?.['aws:asset:path'] as string;
        const dir = join(outdir, assetPath);
        const meta = JSON.parse(readFileSync(join(dir, 'index.meta.json'), 'utf8'));
        const entryPoints = Object.values(meta.outputs as Record<string, { entryPoint?: string }>).map((o) => o.entryPoint);
        expect(entryPoints, definition.id).toEqual([definition.entry]);
        expect(existsSync(join(dir, 'index.mjs'))).toBe(true);
      }
      // Load every bundle in a plain node, as Lambda would (ESM, no tsx).
      const bundles = FUNCTIONS.map((d) => join(outdir, functionResource(d.id).Metadata?.['aws:asset:path'], 'index.mjs'));
      const script = `const files = ${JSON.stringify(bundles)};
        const kinds = [];
        for (const file of files) kinds.push(typeof (await import(file)).handler);
        console.log(JSON.stringify(kinds));`;
      const output = execFileSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env: { PATH: process.env.PATH } });
      expect(JSON.parse(output.trim().split('\n').pop()!)).toEqual(FUNCTIONS.map(() => 'function'));
    }, 60_000);

    it('hands every function the service configuration, the table names and Powertools settings', () => {
      for (const definition of FUNCTIONS) {
        const variables = functionResource(definition.id).Properties.Environment.Variables;
        expect(Object.keys(variables), definition.id).toEqual(
          expect.arrayContaining(['SERVICE_CONFIG', ...TABLES.map((table) => table.envVar), 'POWERTOOLS_SERVICE_NAME', 'POWERTOOLS_LOG_LEVEL']),
        );
        expect(variables.POWERTOOLS_LOG_LEVEL).toBe('INFO');
        const serviceConfig = JSON.parse(variables.SERVICE_CONFIG);
        expect(serviceConfig.websocket.heartbeat_interval).toBe(300);
        expect(serviceConfig.auth.hs256_secret).toBeUndefined();
      }
    });

    it('gives the management endpoint only to functions that post, the welcome function name to Connect, the JWT secret to the token verifiers', () => {
      for (const definition of FUNCTIONS) {
        const variables = functionResource(definition.id).Properties.Environment.Variables;
        expect('MANAGEMENT_ENDPOINT' in variables, definition.id).toBe(FUNCTION_ACCESS[definition.id].managesConnections);
        expect('WELCOME_FUNCTION_NAME' in variables, definition.id).toBe(definition.id === 'Connect');
        expect('JWT_SECRET_ARN' in variables, definition.id).toBe(TOKEN_VERIFIERS.includes(definition.id));
      }
      expect(functionResource('Connect').Properties.Environment.Variables.WELCOME_FUNCTION_NAME).toEqual({
        Ref: logicalId(stack.service.functions[WELCOME.id].function),
      });
    });

    it("keeps each function's logs in its own log group, one year (Config.toml), under the service's log key", () => {
      const keyId = logicalId(stack.service.node.findChild('LogEncryptionKey').node.findChild('Key'));
      for (const definition of FUNCTIONS) {
        const groupId = functionResource(definition.id).Properties.LoggingConfig.LogGroup.Ref as string;
        expect(template.toJSON().Resources[groupId].Properties, definition.id).toMatchObject({
          RetentionInDays: 365,
          KmsKeyId: { 'Fn::GetAtt': [keyId, 'Arn'] },
        });
      }
    });

    it('encrypts every log group of the stack with a key CloudWatch Logs of this account may use, and grants only for AWS resources', () => {
      for (const [id, group] of Object.entries(template.findResources('AWS::Logs::LogGroup'))) {
        expect((group as any).Properties.KmsKeyId, id).toBeDefined();
      }
      template.hasResourceProperties('AWS::KMS::Key', {
        EnableKeyRotation: true,
        KeyPolicy: {
          Statement: Match.arrayWith([
            Match.objectLike({
              Principal: { Service: 'logs.eu-west-1.amazonaws.com' },
              Condition: { ArnLike: { 'kms:EncryptionContext:aws:logs:arn': 'arn:aws:logs:eu-west-1:111122223333:log-group:*' } },
            }),
            Match.objectLike({
              Effect: 'Deny',
              Action: 'kms:CreateGrant',
              Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
            }),
          ]),
        },
      });
    });

    it('limits every Lambda permission of an AWS service to a source ARN and this account', () => {
      const permissions = Object.entries(template.findResources('AWS::Lambda::Permission'));
      expect(permissions.length).toBeGreaterThan(0);
      for (const [id, permission] of permissions) {
        expect((permission as any).Properties.SourceArn, id).toBeDefined();
        expect((permission as any).Properties.SourceAccount, id).toBe('111122223333');
      }
    });
  });

  describe('IAM', () => {
    it('attaches no managed policy to any role', () => {
      for (const role of Object.values(template.findResources('AWS::IAM::Role'))) {
        expect((role as any).Properties.ManagedPolicyArns).toBeUndefined();
      }
      expect(JSON.stringify(template.toJSON())).not.toMatch(/arn:aws:iam::aws:policy|:iam::aws:policy\//);
    });

    it("grants ManageConnections on this stage's @connections paths, to the posting functions only", () => {
      for (const definition of FUNCTIONS) {
        const statements = roleStatements(definition.id).filter((s) => s.Action === 'execute-api:ManageConnections');
        expect(statements.length, definition.id).toBe(FUNCTION_ACCESS[definition.id].managesConnections ? 1 : 0);
        for (const statement of statements) {
          expect(JSON.stringify(statement.Resource)).toMatch(/\/prod\/\*\/@connections\/\*"/);
        }
      }
      expect(['Welcome', 'Fanout', 'Cleanup', 'Recover'].every((id) => FUNCTION_ACCESS[id].managesConnections)).toBe(true);
    });

    it('lets Connect invoke the Welcome function and nothing else', () => {
      const invoke = roleStatements('Connect').filter((s) => JSON.stringify(s.Action).includes('lambda:'));
      expect(invoke).toEqual([
        expect.objectContaining({
          Action: 'lambda:InvokeFunction',
          Resource: { 'Fn::GetAtt': [logicalId(stack.service.functions[WELCOME.id].function), 'Arn'] },
        }),
      ]);
    });

    it('lets only the token verifiers (the Authorizer and the refresh route) read the JWT secret', () => {
      for (const definition of FUNCTIONS) {
        const reads = roleStatements(definition.id).filter((s) => JSON.stringify(s.Action).includes('secretsmanager:GetSecretValue'));
        expect(reads.length, definition.id).toBe(TOKEN_VERIFIERS.includes(definition.id) ? 1 : 0);
      }
    });

    it('grants each function only the tables FUNCTION_ACCESS names, and no Scan', () => {
      for (const definition of FUNCTIONS) {
        const dynamo = roleStatements(definition.id).filter((s) => JSON.stringify(s.Action).includes('dynamodb:'));
        const granted = new Set(
          dynamo.flatMap((s) =>
            [s.Resource]
              .flat()
              .map((r: any) => r['Fn::GetAtt']?.[0])
              .filter(Boolean),
          ),
        );
        const expected = Object.keys(FUNCTION_ACCESS[definition.id].tables).map((id) =>
          logicalId(stack.service.tables.tables[id as keyof typeof stack.service.tables.tables]),
        );
        expect([...granted].sort(), definition.id).toEqual(expected.sort());
        expect(JSON.stringify(dynamo)).not.toContain('dynamodb:Scan');
        expect(JSON.stringify(dynamo)).not.toContain('index/*');
      }
    });

    it("limits the fan-out's Kafka access to the cluster, its topics and their consumer groups", () => {
      const kafka = roleStatements('Fanout').filter((s) => JSON.stringify(s.Action).includes('kafka'));
      const cluster = 'notifications/00000000-0000-0000-0000-000000000000-1';
      const topics = ['booking-updates', 'waitlist-notifications', 'system-announcements'];
      // Sorted: @aws-cdk/aws-iam:minimizePolicies orders the actions of a statement.
      const actionsOn = (resource: string) =>
        kafka
          .filter((s) => [s.Resource].flat().includes(resource))
          .flatMap((s) => [s.Action].flat())
          .sort();
      expect(actionsOn(`arn:aws:kafka:us-east-1:123456789012:cluster/${cluster}`)).toEqual(
        expect.arrayContaining(['kafka-cluster:Connect', 'kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers']),
      );
      for (const topic of topics) {
        expect(actionsOn(`arn:aws:kafka:us-east-1:123456789012:topic/${cluster}/${topic}`)).toEqual(['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData']);
        expect(actionsOn(`arn:aws:kafka:us-east-1:123456789012:group/${cluster}/notifications-fanout-${topic}`)).toEqual([
          'kafka-cluster:AlterGroup',
          'kafka-cluster:DescribeGroup',
        ]);
      }
      // Nothing beyond the cluster, those topics and those groups.
      const granted = kafka.flatMap((s) => [s.Resource].flat());
      expect(granted).toHaveLength(1 + topics.length * 2);
    });
  });

  describe('Kafka trigger', () => {
    it.each(['booking-updates', 'waitlist-notifications', 'system-announcements'])(
      'maps topic %s to the fan-out with the configured batching, retries and partial batch responses',
      (topic) => {
        // One mapping per shipped topic: every channel of the original module has a producer path.
        template.resourceCountIs('AWS::Lambda::EventSourceMapping', 3);
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          FunctionName: { Ref: logicalId(stack.service.functions.Fanout.function) },
          EventSourceArn: 'arn:aws:kafka:us-east-1:123456789012:cluster/notifications/00000000-0000-0000-0000-000000000000-1',
          Topics: [topic],
          AmazonManagedKafkaEventSourceConfig: { ConsumerGroupId: `notifications-fanout-${topic}` },
          BatchSize: 100,
          MaximumBatchingWindowInSeconds: 0,
          StartingPosition: 'LATEST',
          MaximumRetryAttempts: 3,
          BisectBatchOnFunctionError: true,
          FunctionResponseTypes: ['ReportBatchItemFailures'],
          ProvisionedPollerConfig: { MinimumPollers: 1, MaximumPollers: 2 },
          // Discarded batches are parked whole in S3 (docs/delivery.md section 4), not as metadata in the queue.
          DestinationConfig: { OnFailure: { Destination: { 'Fn::GetAtt': [Match.stringLikeRegexp('ParkedRecords'), 'Arn'] } } },
        });
      },
    );

    it('sets failed batches aside in an encrypted queue that refuses plain HTTP, with a dead-letter queue of its own', () => {
      template.hasResourceProperties('AWS::SQS::Queue', { SqsManagedSseEnabled: true, MessageRetentionPeriod: 1209600 });
      const queueId = logicalId(stack.service.kafkaTrigger!.onFailureQueue);
      const redrive = template.toJSON().Resources[queueId].Properties.RedrivePolicy;
      expect(redrive.maxReceiveCount).toBe(10);
      const deadLetters = template.toJSON().Resources[redrive.deadLetterTargetArn['Fn::GetAtt'][0]];
      expect(deadLetters.Properties).toMatchObject({ SqsManagedSseEnabled: true, RedriveAllowPolicy: { redrivePermission: 'allowAll' } });
      template.hasResourceProperties('AWS::SQS::QueuePolicy', {
        PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } })]) },
      });
    });
  });

  describe('schedule', () => {
    it('runs cleanup at the configured rate', () => {
      template.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(5 minutes)',
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [logicalId(stack.service.functions.Cleanup.function), 'Arn'] } })],
      });
    });
  });

  describe('tables', () => {
    it('creates exactly the tables of TABLES, with their keys, indexes, TTL, PITR and encryption', () => {
      template.resourceCountIs('AWS::DynamoDB::Table', TABLES.length);
      for (const definition of TABLES) {
        const resource = template.toJSON().Resources[logicalId(stack.service.tables.tables[definition.id])];
        expect(resource.DeletionPolicy, definition.id).toBe('Retain');
        const keySchema = [
          { AttributeName: definition.partitionKey.name, KeyType: 'HASH' },
          ...(definition.sortKey ? [{ AttributeName: definition.sortKey.name, KeyType: 'RANGE' }] : []),
        ];
        expect(resource.Properties, definition.id).toMatchObject({
          KeySchema: keySchema,
          BillingMode: 'PAY_PER_REQUEST',
          PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
          // SSE enabled without a key id: KMS with the AWS managed key (aws/dynamodb).
          SSESpecification: { SSEEnabled: true },
        });
        if (definition.timeToLiveAttribute) {
          expect(resource.Properties.TimeToLiveSpecification).toEqual({ AttributeName: definition.timeToLiveAttribute, Enabled: true });
        } else {
          expect(resource.Properties.TimeToLiveSpecification).toBeUndefined();
        }
        const indexes = (resource.Properties.GlobalSecondaryIndexes ?? []).map((index: any) => ({
          name: index.IndexName,
          keys: index.KeySchema.map((k: any) => k.AttributeName),
          projection: index.Projection.ProjectionType,
          include: index.Projection.NonKeyAttributes,
        }));
        expect(indexes, definition.id).toEqual(
          definition.globalSecondaryIndexes.map((index) => ({
            name: index.indexName,
            keys: [index.partitionKey.name, ...(index.sortKey ? [index.sortKey.name] : [])],
            projection: index.projection.type,
            include: index.projection.type === 'INCLUDE' ? [...index.projection.nonKeyAttributes] : undefined,
          })),
        );
      }
    });
  });

  describe('operations', () => {
    it('alarms on errors and throttles of every function', () => {
      for (const definition of FUNCTIONS) {
        for (const metric of ['Errors', 'Throttles']) {
          template.hasResourceProperties('AWS::CloudWatch::Alarm', {
            Namespace: 'AWS/Lambda',
            MetricName: metric,
            Dimensions: [{ Name: 'FunctionName', Value: { Ref: logicalId(stack.service.functions[definition.id].function) } }],
          });
        }
      }
    });

    it('alarms on API Gateway integration and execution errors, fan-out failures and the on-failure queue', () => {
      for (const metric of ['IntegrationError', 'ExecutionError']) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', { Namespace: 'AWS/ApiGateway', MetricName: metric });
      }
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'Notifications',
        MetricName: 'FanoutFailed',
        Dimensions: [{ Name: 'service', Value: 'notifications' }],
      });
      template.hasResourceProperties('AWS::CloudWatch::Alarm', {
        Namespace: 'AWS/SQS',
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Threshold: 1,
      });
      template.resourceCountIs('AWS::CloudWatch::Dashboard', 1);
    });

    it('gives every alarm an action: the alarm topic, encrypted, output for subscribing', () => {
      const topicId = logicalId(stack.service.monitoring.alarmTopic as any);
      for (const [id, alarm] of Object.entries(template.findResources('AWS::CloudWatch::Alarm'))) {
        expect((alarm as any).Properties.AlarmActions, id).toEqual([{ Ref: topicId }]);
      }
      expect(template.toJSON().Resources[topicId].Properties.KmsMasterKeyId).toBeDefined();
      template.hasOutput('AlarmTopicArn', { Value: { Ref: topicId } });
    });
  });
});
