import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ConfigError } from '../lambdas/config/errors.js';
import { apiGatewayNotes } from '../lambdas/config/load.js';
import type { Config } from '../lambdas/config/schema.js';
import { LOCAL_REGION, serverApiCredentials, useLocalAwsIdentity } from './aws-identity.js';
import { createTables, startDynamoDbLocal } from './dynamodb-local.js';
import { loadProjectConfig, resolveJwtSecret } from './jwt-secret.js';
import { HANDLER_SOURCE_FOLDERS } from './lambda/source-watcher.js';
import { PROJECT_ROOT } from './project-root.js';
import { startLocalRuntime, type LocalRuntime } from './runtime.js';

/**
 * `npm start`: DynamoDB Local, the tables, and the local runtime on PORT (default 8080).
 * `npm run dev` (or `npm start -- --watch`): the same, with the handlers reloaded when their files change.
 */

const say = (line = '') => process.stdout.write(`${line}\n`);
const fail = (message: string): never => {
  process.stderr.write(`${message}\n`);
  process.exit(1);
};

function readPort(text: string | undefined): number {
  const port = Number(text ?? 8080);
  if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`PORT=${text}: not a port number (0-65535)`);
  return port;
}

async function start(): Promise<void> {
  // Read before useLocalAwsIdentity fills in its placeholders: the caller's own keys, if set.
  const serverApi = serverApiCredentials();
  useLocalAwsIdentity();
  let config: Config;
  try {
    config = loadProjectConfig(PROJECT_ROOT);
  } catch (error) {
    if (error instanceof ConfigError) return fail(error.message);
    throw error;
  }
  for (const note of apiGatewayNotes(config.notification_service)) say(`note: ${note}`);
  const port = readPort(process.env.PORT);
  const args = process.argv.slice(2);
  const unknown = args.filter((arg) => arg !== '--watch');
  if (unknown.length > 0) fail(`unknown argument ${unknown[0]}; the only one is --watch (reload the handlers when their files change)`);
  const watch = args.includes('--watch');

  const external = process.env.DYNAMODB_ENDPOINT;
  let dynamoDb: { endpoint: string; stop(): Promise<void> };
  if (external) {
    dynamoDb = { endpoint: external, stop: async () => {} };
  } else {
    say('starting DynamoDB Local ...');
    try {
      dynamoDb = await startDynamoDbLocal();
    } catch (error) {
      return fail((error as Error).message);
    }
  }

  let runtime: LocalRuntime;
  const { secret, source } = resolveJwtSecret(config);
  try {
    // The same credentials and region the handlers use, so they see these tables.
    const client = new DynamoDBClient({ endpoint: dynamoDb.endpoint, region: LOCAL_REGION });
    const tables = await createTables(client, 'local-');
    client.destroy();
    runtime = await startLocalRuntime({ port, config, dynamodbEndpoint: dynamoDb.endpoint, tables, jwtSecret: secret, serverApiCredentials: serverApi, watch });
  } catch (error) {
    await dynamoDb.stop();
    const reason = (error as NodeJS.ErrnoException).code === 'EADDRINUSE' ? `port ${port} is in use; set PORT to another one` : (error as Error).message;
    return fail(`cannot start: ${reason}`);
  }

  say();
  say(`Demo page       ${runtime.httpUrl}/`);
  say(`WebSocket       ${runtime.wsUrl}/?token=<JWT>`);
  say(`Management API  ${runtime.httpUrl}/@connections/{connectionId}`);
  say(`Producer        POST ${runtime.httpUrl}/_local/topics/{topic}   (topics: ${config.notification_service.kafka.topics.join(', ')})`);
  say(`Dead letters    GET ${runtime.httpUrl}/_local/dead-letters`);
  say(`Parked batches  GET ${runtime.httpUrl}/_local/parked   (Kafka batches given up after their retries; npm run replay)`);
  say(
    `Server API      ${runtime.serverApiUrl}/{publish | users/{userId}/disconnect | users/{userId}/presence | stats}   (SigV4: execute-api, ${LOCAL_REGION})`,
  );
  say(`  access key    ${serverApi.accessKeyId}   (${serverApi.source})`);
  if (serverApi.source === 'generated') say(`  secret key    ${serverApi.secretAccessKey}`);
  say(`DynamoDB        ${dynamoDb.endpoint}${external ? ' (DYNAMODB_ENDPOINT)' : ' (DynamoDB Local, in memory)'}`);
  say(`JWT secret      ${secret}   (from ${source})`);
  if (watch) {
    const folders = HANDLER_SOURCE_FOLDERS.filter((folder) => existsSync(join(PROJECT_ROOT, folder)));
    say(`Watching        ${folders.map((folder) => `${folder}/`).join(', ')}: a change reloads the handlers (open sockets stay open)`);
  }
  say();
  say('try it:');
  say(`  npx wscat -c "${runtime.wsUrl}/?token=$(npm run -s token -- --user alice)"`);
  say(`  npm run send -- --title Hello --message "It works" --user alice${port === 8080 ? '' : ` --url ${runtime.httpUrl}`}`);
  say(
    `  curl --aws-sigv4 "aws:amz:${LOCAL_REGION}:execute-api" --user "${serverApi.accessKeyId}:${serverApi.source === 'generated' ? serverApi.secretAccessKey : '$AWS_SECRET_ACCESS_KEY'}" ` +
      `-H 'content-type: application/json' -d '{"type":"notification","targetUserId":"alice","payload":{"notificationId":"n1","title":"Hi","message":"From the server API","priority":"low","createdAt":"${new Date().toISOString()}"}}' ${runtime.serverApiUrl}/publish`,
  );
  say();

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    // A second signal means: do not wait for a clean stop.
    if (stopping) process.exit(130);
    stopping = true;
    say(`${signal}: stopping ...`);
    runtime
      .stop()
      .then(() => dynamoDb.stop())
      .then(
        () => process.exit(0),
        (error: unknown) => fail(`stop failed: ${String(error)}`),
      );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

start().catch((error: unknown) => fail(error instanceof Error ? (error.stack ?? error.message) : String(error)));
