import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { parseConfig } from '../../lambdas/config/load.js';
import { LOCAL_REGION, useLocalAwsIdentity } from '../../local/aws-identity.js';
import { createTables } from '../../local/dynamodb-local.js';
import { loadProjectConfig } from '../../local/jwt-secret.js';
import { PROJECT_ROOT } from '../../local/project-root.js';
import { startLocalRuntime } from '../../local/runtime.js';
import { announceReady, childInput, serveRequests } from '../child-process.js';

/**
 * B3's server: the local runtime as `npm start` runs it (Config.toml, DynamoDB Local,
 * the handler modules), in its own process so that its CPU per delivery can be read.
 */

export interface LocalRuntimeServerInput {
  readonly dynamodbEndpoint: string;
  readonly tablePrefix: string;
  readonly jwtSecret: string;
}

export interface LocalRuntimeServerInfo {
  readonly httpUrl: string;
  readonly wsUrl: string;
  readonly topic: string;
  /** The channel records on `topic` go to when they name no target. */
  readonly channel: string;
  readonly fanoutConcurrency: number;
}

const input = childInput<LocalRuntimeServerInput>();
useLocalAwsIdentity();
const projectConfig = loadProjectConfig(PROJECT_ROOT);
// The deployment's settings, except that the bench's clients are polite and many: the
// per-connection frame budget is kept, and each client is its own user.
const config = parseConfig({ notification_service: projectConfig.notification_service });
const client = new DynamoDBClient({ endpoint: input.dynamodbEndpoint, region: LOCAL_REGION });
const tables = await createTables(client, input.tablePrefix);
client.destroy();
let notices = 0;
const firstNotices: string[] = [];
const runtime = await startLocalRuntime({
  config,
  dynamodbEndpoint: input.dynamodbEndpoint,
  tables,
  jwtSecret: input.jwtSecret,
  cleanupIntervalMs: 0,
  logInvocation: () => {},
  notice: (message, fields) => {
    notices += 1;
    if (firstNotices.length < 5) firstNotices.push(`${message} ${JSON.stringify(fields ?? {})}`);
  },
});

serveRequests({
  cpuUsage: () => process.cpuUsage(),
  notices: () => notices,
  /** The first few notices and dead letters, to explain a client that got no welcome. */
  diagnostics: () => ({ notices: firstNotices, deadLetters: runtime.deadLetters.slice(0, 5) }),
  async stop() {
    await runtime.stop();
    return null;
  },
});

const { kafka } = config.notification_service;
const topic = kafka.topics[0]!;
await announceReady({
  httpUrl: runtime.httpUrl,
  wsUrl: runtime.wsUrl,
  topic,
  channel: kafka.topic_channels[topic] ?? topic,
  fanoutConcurrency: kafka.fanout_concurrency,
} satisfies LocalRuntimeServerInfo);
