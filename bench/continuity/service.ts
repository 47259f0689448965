import { parseArgs } from 'node:util';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { loadConfigFile } from '../../lambdas/config/load.js';
import { LOCAL_REGION, serverApiCredentials, useLocalAwsIdentity } from '../../local/aws-identity.js';
import { createTables, startDynamoDbLocal } from '../../local/dynamodb-local.js';
import { resolveJwtSecret } from '../../local/jwt-secret.js';
import { startLocalRuntime } from '../../local/runtime.js';

/**
 * The service as `npm start` runs it (local/main.ts: DynamoDB Local unless
 * DYNAMODB_ENDPOINT is set, the tables, the local runtime on PORT), with one difference:
 * the configuration comes from `--config <file>` instead of the project's Config.toml,
 * which local/main.ts always reads. `npm run continuity` runs this as a child process so
 * it can stop it (SIGSTOP) as a starved Lambda is stopped.
 *
 * stdout: one line `{"ready":{...}}` once it listens, then the runtime's invocation lines
 * and the handlers' logs. It stops on SIGTERM, and when its stdin closes (its parent went).
 */

const { values } = parseArgs({ options: { config: { type: 'string' } } });
if (!values.config) {
  process.stderr.write('usage: tsx bench/continuity/service.ts --config <Config.toml>   (PORT, DYNAMODB_ENDPOINT, TABLE_PREFIX)\n');
  process.exit(2);
}

const serverApi = serverApiCredentials();
useLocalAwsIdentity();
const config = loadConfigFile(values.config);
const external = process.env.DYNAMODB_ENDPOINT;
const dynamoDb = external ? { endpoint: external, stop: async () => {} } : await startDynamoDbLocal();
const client = new DynamoDBClient({ endpoint: dynamoDb.endpoint, region: LOCAL_REGION });
const tables = await createTables(client, process.env.TABLE_PREFIX ?? 'local-');
client.destroy();
const runtime = await startLocalRuntime({
  port: Number(process.env.PORT ?? 0),
  config,
  dynamodbEndpoint: dynamoDb.endpoint,
  tables,
  jwtSecret: resolveJwtSecret(config).secret,
  serverApiCredentials: serverApi,
});
process.stdout.write(`${JSON.stringify({ ready: { httpUrl: runtime.httpUrl, wsUrl: runtime.wsUrl, dynamodbEndpoint: dynamoDb.endpoint } })}\n`);

let stopping = false;
const stop = () => {
  if (stopping) process.exit(130);
  stopping = true;
  runtime
    .stop()
    .then(() => dynamoDb.stop())
    .then(
      () => process.exit(0),
      () => process.exit(1),
    );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.resume();
