import { existsSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as kms from 'aws-cdk-lib/aws-kms';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as nodejs from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { FunctionDefinition } from '../protocol/routes.js';
import { acknowledgeControl } from './policy-validation.js';

/** Powertools log levels, as `POWERTOOLS_LOG_LEVEL` takes them. */
export type ServiceLogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** Namespace of the service's own metrics (Powertools Metrics). */
export const METRICS_NAMESPACE = 'Notifications';

/** `POWERTOOLS_SERVICE_NAME` of every function; also the `service` dimension of its metrics. */
export const SERVICE_NAME = 'notifications';

/** The runtime of every function. */
export const FUNCTION_RUNTIME = lambda.Runtime.NODEJS_24_X;

/**
 * How every function is bundled (esbuild options), exported so that the cold-start
 * benchmark (bench/b4-cold-start.ts) bundles exactly as the stack does.
 */
export const FUNCTION_BUNDLING = {
  format: 'esm',
  /** esbuild's name for FUNCTION_RUNTIME. */
  target: 'node24',
  mainFields: ['module', 'main'],
  // The handlers are ESM; some bundled dependencies still call `require`, which ESM lacks.
  banner: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
  minify: true,
  /**
   * The AWS SDK stays inside the bundle (the versions of package-lock.json, not the
   * runtime's): loading the runtime's copy instead made initialisation 2-3 times slower
   * (module resolution across its many files; docs/benchmarks.md, B4). Only the
   * credential providers the SDK imports dynamically, and only when the environment
   * holds no credentials (never in Lambda), are left to the runtime, which ships them.
   */
  externalModules: [
    '@aws-sdk/credential-provider-http',
    '@aws-sdk/credential-provider-ini',
    '@aws-sdk/credential-provider-process',
    '@aws-sdk/credential-provider-sso',
    '@aws-sdk/credential-provider-web-identity',
  ],
} as const;

export interface ServiceFunctionProps {
  /** The route table entry: id, entry module (relative to `projectRoot`), description. */
  readonly definition: FunctionDefinition;
  /** Project root: the directory holding `package-lock.json` and the entry modules. */
  readonly projectRoot: string;
  /** Environment besides the Powertools variables. */
  readonly environment: Readonly<Record<string, string>>;
  /**
   * Log group retention.
   * @default logs.RetentionDays.ONE_YEAR - Control Tower's minimum (CT.CLOUDWATCH.PR.2)
   */
  readonly logRetention?: logs.RetentionDays;
  /**
   * Customer managed key the log group is encrypted with; its policy must let CloudWatch
   * Logs use it (see `LogEncryptionKey`).
   * @default - CloudWatch Logs' own encryption
   */
  readonly logEncryptionKey?: kms.IKey;
  /**
   * What happens to the log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN - logs outlive the stack
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * `POWERTOOLS_LOG_LEVEL`.
   * @default 'INFO'
   */
  readonly logLevel?: ServiceLogLevel;
  /**
   * Memory in MB.
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * Timeout.
   * @default Duration.seconds(10) - a WebSocket route answers within API Gateway's 29 s
   */
  readonly timeout?: Duration;
}

/**
 * One Lambda function of the service: a `NodejsFunction` bundled by the local esbuild
 * (never Docker) from its route table entry, Node.js 24 on arm64, with its own log group
 * and its own role. The role starts empty (no AWS managed policy, not even basic
 * execution); everything it may do is granted to it explicitly.
 */
export class ServiceFunction extends Construct {
  readonly function: nodejs.NodejsFunction;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly definition: FunctionDefinition;

  constructor(scope: Construct, id: string, props: ServiceFunctionProps) {
    super(scope, id);
    const { definition, projectRoot } = props;
    if (isAbsolute(definition.entry)) {
      throw new Error(`ServiceFunction ${definition.id}: entry ${definition.entry} must be relative to the project root`);
    }
    const entry = join(projectRoot, definition.entry);
    if (!existsSync(entry)) {
      throw new Error(`ServiceFunction ${definition.id}: entry ${definition.entry} does not exist under ${projectRoot}`);
    }
    const memorySize = props.memorySize ?? 512;
    if (!Number.isInteger(memorySize) || memorySize < 128 || memorySize > 10240) {
      throw new Error(`ServiceFunction ${definition.id}: memorySize ${memorySize} is not an integer from 128 to 10240`);
    }
    this.definition = definition;

    this.logGroup = new logs.LogGroup(this, 'LogGroup', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_YEAR,
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
      encryptionKey: props.logEncryptionKey,
    });
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `${definition.id}: ${definition.description}`,
    });
    this.logGroup.grantWrite(this.role);

    this.function = new nodejs.NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      projectRoot,
      depsLockFilePath: join(projectRoot, 'package-lock.json'),
      description: definition.description,
      runtime: FUNCTION_RUNTIME,
      architecture: lambda.Architecture.ARM_64,
      memorySize,
      timeout: props.timeout ?? Duration.seconds(10),
      role: this.role,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: {
        ...props.environment,
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_LOG_LEVEL: props.logLevel ?? 'INFO',
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      bundling: {
        format: FUNCTION_BUNDLING.format as nodejs.OutputFormat,
        target: FUNCTION_BUNDLING.target,
        mainFields: [...FUNCTION_BUNDLING.mainFields],
        banner: FUNCTION_BUNDLING.banner,
        minify: FUNCTION_BUNDLING.minify,
        externalModules: [...FUNCTION_BUNDLING.externalModules],
        // The metafile names the entry point each bundle was built from; the CDK tests
        // read it so a function wired to the wrong module cannot ship.
        metafile: true,
        forceDockerBundling: false,
      },
    });
    acknowledgeControl(
      this,
      'functionInVpc',
      'The function reaches only AWS public endpoints (DynamoDB, API Gateway Management API, SQS, Lambda, Secrets Manager) over TLS with IAM; ' +
        "no private resource needs a VPC. MSK is reached by the event source mapping, whose pollers use the cluster's own subnets. " +
        'A VPC would add a NAT gateway or an interface endpoint per service and AZ without narrowing what the role may do.',
    );
  }

  /** Adds (or replaces) one environment variable. */
  addEnvironment(key: string, value: string): void {
    this.function.addEnvironment(key, value);
  }
}
