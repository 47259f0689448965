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
