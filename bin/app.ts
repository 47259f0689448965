import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { ConfigError } from '../lambdas/config/errors.js';
import { loadDeploymentSettings } from '../lib/deployment-config.js';
import { NotificationStack } from '../lib/notification-stack.js';
import { addPolicyValidation } from '../lib/policy-validation.js';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const app = new App();
const configPath = resolve(projectRoot, String(app.node.tryGetContext('config') ?? 'Config.toml'));

let settings: ReturnType<typeof loadDeploymentSettings>;
try {
  settings = loadDeploymentSettings(configPath, app.node.getAllContext());
} catch (error) {
  if (error instanceof ConfigError) {
    // The message already names each bad key and what is allowed; a stack trace adds nothing.
    console.error(error.message);
    process.exit(1);
  }
  throw error;
}

new NotificationStack(app, 'NotificationStack', {
  stackName: settings.deployment.stack_name,
  settings,
  projectRoot,
  // The CDK CLI overwrites CDK_DEFAULT_REGION; AWS_REGION is what the operator chose.
  env: {
    account: process.env.CDK_DEFAULT_ACCOUNT,
    region: process.env.AWS_REGION ?? process.env.CDK_DEFAULT_REGION,
  },
  description: 'Real-time notifications: API Gateway WebSocket API, Lambda, DynamoDB, fed by Kafka',
});

// cdk-nag and AWS Control Tower's proactive controls: an unacknowledged finding fails the synth.
addPolicyValidation(app);
