import { randomBytes } from 'node:crypto';

/** The account and region every ARN and event of the local runtime names. */
export const LOCAL_ACCOUNT = '000000000000';
export const LOCAL_REGION = 'us-east-1';

/**
 * The region and credentials every AWS SDK client of the local process uses. DynamoDB
 * Local keeps one set of tables per access key and region (unless started with
 * -sharedDb), so the process that creates the tables and the handlers that use them
 * must agree; credentials already set are kept. Lambda always sets AWS_REGION.
 */
export function useLocalAwsIdentity(env: NodeJS.ProcessEnv = process.env): void {
  env.AWS_REGION = LOCAL_REGION;
  env.AWS_ACCESS_KEY_ID ??= 'local';
  env.AWS_SECRET_ACCESS_KEY ??= 'local';
  // Lambda runs Node.js 24; locally Node.js 20 is supported, so the SDK's notice that its
  // future releases need Node.js 22 is noise here.
  env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
}

/** Credentials the local server API verifies SigV4 signatures against. */
export interface LocalServerApiCredentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Where they came from, for the start-up banner. */
  readonly source: 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY' | 'generated';
}

/**
 * The caller's own AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY when both are set (so a
 * producer signs with the credentials it already has), or a fresh pair for this run.
 * Read before {@link useLocalAwsIdentity} fills in its placeholders.
 */
export function serverApiCredentials(env: NodeJS.ProcessEnv = process.env): LocalServerApiCredentials {
  const { AWS_ACCESS_KEY_ID: accessKeyId, AWS_SECRET_ACCESS_KEY: secretAccessKey } = env;
  if (accessKeyId && secretAccessKey) return { accessKeyId, secretAccessKey, source: 'AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY' };
  return {
    accessKeyId: `AKIALOCAL${randomBytes(6).toString('hex').toUpperCase()}`,
    secretAccessKey: randomBytes(30).toString('base64'),
    source: 'generated',
  };
}
