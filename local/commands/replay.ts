import { parseArgs } from 'node:util';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import type { AwsCredentialIdentity } from '@smithy/types';
import { PARKED_KEY_PREFIX, readParkedRecords, UnreadableFailureRecordError, type ParkedObject, type ParkedRecord } from '../kafka/parked-records.js';
import { EXIT, runIfMain, type CommandOutput } from './command-line.js';
import { signedRequest } from './send.js';

export const REPLAY_USAGE = `Usage: npm run replay -- [--dry-run] [--source local | <bucket> | s3://<bucket>/<prefix>] [options]

Reads the Kafka batches the trigger parked after its retries (Lambda's invocation
records, with each record's value), shows each record's topic, partition, offset and
reason, publishes each value again the way a producer does, and removes what it
replayed. Each value goes out exactly as it was parked, so it keeps its duplicate key
(its messageId, or the one derived from its target and notificationId): a replay of
something that was in fact delivered is a duplicate, not a second delivery.

  --source local   (default) the local runtime's parked batches (GET {url}/_local/parked);
                   values go to its producer endpoint (POST {url}/_local/topics/{topic})
  --source <bucket> | s3://<bucket>[/<prefix>]
                   the stack's ParkedRecordsBucket output (prefix default aws/lambda/);
                   values go to the server API's POST /publish (SigV4), objects are
                   deleted once every record of theirs was delivered or found a duplicate.
                   Credentials and region: the AWS default chain, AWS_REGION
  --server-api-url <url>  the stack's ServerApiUrl output (required with a bucket)
  --url            the local runtime (default: http://127.0.0.1:$PORT, PORT defaulting to 8080)
  --dry-run        show what would be replayed; publish and remove nothing`;

/** Where parked batches are read from, and where their records are published. */
interface ParkedSource {
  readonly describe: string;
  list(): Promise<ParkedObject[]>;
  publish(record: ParkedRecord, value: string): Promise<PublishResult>;
  remove(key: string): Promise<void>;
}

/** What became of one record: `kept` means it is not safe to remove its batch. */
interface PublishResult {
  readonly outcome: string;
  readonly kept: boolean;
}

interface ReplayRequest {
  readonly dryRun: boolean;
  readonly source: ParkedSource;
}

function parseReplayArguments(argv: string[], env: NodeJS.ProcessEnv): ReplayRequest | string {
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        'dry-run': { type: 'boolean', default: false },
        source: { type: 'string', default: 'local' },
        url: { type: 'string', default: `http://127.0.0.1:${env.PORT ?? 8080}` },
        'server-api-url': { type: 'string' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (error) {
    return (error as Error).message;
  }
  const source = String(values.source);
  if (source === 'local') {
    let url: URL;
    try {
      url = new URL(String(values.url));
    } catch {
      return `--url ${String(values.url)}: not a URL`;
    }
    return { dryRun: values['dry-run'] === true, source: localSource(url.origin) };
  }
  const bucket = /^(?:s3:\/\/)?([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(source);
  if (!bucket) return `--source ${source}: not "local", a bucket name or s3://<bucket>/<prefix>`;
  if (values['server-api-url'] === undefined) return '--server-api-url is required with a bucket (the stack output ServerApiUrl)';
  let serverApiUrl: string;
  try {
    serverApiUrl = new URL(String(values['server-api-url'])).href.replace(/\/$/, '');
  } catch {
    return `--server-api-url ${String(values['server-api-url'])}: not a URL`;
  }
  const region = env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'us-east-1';
  return {
    dryRun: values['dry-run'] === true,
    source: s3Source({ bucket: bucket[1]!, prefix: bucket[2] || PARKED_KEY_PREFIX, region, serverApiUrl, credentials: defaultProvider() }),
  };
}

/** The local runtime: its parked list, its producer endpoint. */
function localSource(url: string): ParkedSource {
  return {
    describe: `${url}/_local/parked`,
    async list() {
      const response = await fetch(`${url}/_local/parked`);
      if (!response.ok) throw new Error(`GET ${url}/_local/parked answered ${response.status}`);
      const { parked } = (await response.json()) as { parked: ParkedObject[] };
      return parked;
    },
    async publish(record, value) {
      const query = new URLSearchParams({ partition: String(record.partition), ...(record.key !== undefined ? { key: record.key } : {}) });
      const response = await fetch(`${url}/_local/topics/${encodeURIComponent(record.topic)}?${query}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: value,
      });
      const answer = (await response.json().catch(() => ({}))) as { duplicates?: number; parked?: number[]; errorMessage?: string; message?: string };
      if (response.status === 200) return { outcome: answer.duplicates ? 'duplicate' : 'delivered', kept: false };
      // Failed again: the stand-in parked it anew, so this copy may go.
      if (response.status === 500 && answer.parked?.length) return { outcome: `failed again, parked again (${answer.errorMessage ?? 'error'})`, kept: false };
      return { outcome: `refused: ${response.status} ${answer.message ?? answer.errorMessage ?? ''}`.trim(), kept: true };
    },
    async remove(key) {
      const response = await fetch(`${url}/_local/parked/${encodeURIComponent(key)}`, { method: 'DELETE' });
      if (!response.ok && response.status !== 404) throw new Error(`DELETE ${key} answered ${response.status}`);
    },
  };
}

/** The S3 on-failure destination, and the server API's publish (both signed with the default credentials). */
function s3Source(options: {
  bucket: string;
  prefix: string;
  region: string;
  serverApiUrl: string;
  credentials: () => Promise<AwsCredentialIdentity>;
}): ParkedSource {
  const { bucket, region } = options;
  const endpoint = `https://${bucket}.s3.${region}.amazonaws.com`;
  const s3 = async (method: string, path: string, query: Record<string, string> = {}) => {
    const url = new URL(`${endpoint}${path}`);
    for (const [name, value] of Object.entries(query)) url.searchParams.set(name, value);
    const { target, init } = await signedRequest({ url, method, credentials: await options.credentials(), region, service: 's3' });
    const response = await fetch(target, init);
    if (!response.ok) throw new Error(`S3 ${method} ${path} answered ${response.status}: ${(await response.text()).slice(0, 300)}`);
    return response;
  };
  const objectPath = (key: string) => `/${key.split('/').map(encodeS3Segment).join('/')}`;
  return {
    describe: `s3://${bucket}/${options.prefix}`,
    async list() {
      const keys: string[] = [];
      let token: string | undefined;
      do {
        const xml = await (await s3('GET', '/', { 'list-type': '2', prefix: options.prefix, ...(token ? { 'continuation-token': token } : {}) })).text();
        keys.push(...[...xml.matchAll(/<Key>([^<]*)<\/Key>/g)].map((match) => decodeXml(match[1]!)));
        token = /<IsTruncated>true<\/IsTruncated>/.test(xml) ? decodeXml(/<NextContinuationToken>([^<]*)</.exec(xml)?.[1] ?? '') : undefined;
      } while (token);
      const objects: ParkedObject[] = [];
      for (const key of keys) objects.push({ key, body: await (await s3('GET', objectPath(key))).text() });
      return objects;
    },
    async publish(_record, value) {
      const credentials = await options.credentials();
      const { target, init } = await signedRequest({
        url: new URL(`${options.serverApiUrl}/publish`),
        method: 'POST',
        body: value,
        credentials,
        region,
        service: 'execute-api',
      });
      const response = await fetch(target, init);
      const answer = (await response.json().catch(() => ({}))) as { results?: { status: string; reason?: string }[]; message?: string };
      const result = answer.results?.[0];
      if (response.status === 200 && result && (result.status === 'delivered' || result.status === 'duplicate')) return { outcome: result.status, kept: false };
      return { outcome: `not delivered: ${response.status} ${result?.reason ?? answer.message ?? ''}`.trim(), kept: true };
    },
    async remove(key) {
      await s3('DELETE', objectPath(key));
    },
  };
}

function encodeS3Segment(segment: string): string {
  return encodeURIComponent(segment).replace(/[!'()*]/g, (character) => `%${character.charCodeAt(0).toString(16).toUpperCase()}`);
}

function decodeXml(text: string): string {
  return text.replace(/&(lt|gt|amp|quot|apos);/g, (_entity, name: string) => ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" })[name]!);
}

export async function main(argv: string[], output: CommandOutput, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const request = parseReplayArguments(argv, env);
  if (typeof request === 'string') {
    output.err(`${request}\n\n${REPLAY_USAGE}`);
    return EXIT.usage;
  }
  const { source, dryRun } = request;
  let objects: ParkedObject[];
  try {
    objects = await source.list();
  } catch (error) {
    output.err(`cannot read ${source.describe}: ${(error as Error).cause ?? (error as Error).message}`);
    return EXIT.failed;
  }
  if (objects.length === 0) {
    output.out(`nothing parked in ${source.describe}`);
    return EXIT.ok;
  }
  let failed = 0;
  let replayed = 0;
  for (const object of objects) {
    let records: ParkedRecord[];
    try {
      records = readParkedRecords(object.body);
    } catch (error) {
      if (!(error instanceof UnreadableFailureRecordError)) throw error;
      output.err(`${object.key}: skipped, ${error.message}`);
      failed += 1;
      continue;
    }
    output.out(`${object.key}: ${records.length} record${records.length === 1 ? '' : 's'}`);
    let kept = false;
    for (const record of records) {
      const position = `  ${record.topic}-${record.partition}@${record.offset}`;
      if (dryRun) {
        output.out(`${position}  ${record.reason}\n    ${record.value}`);
        continue;
      }
      const result = await source.publish(record, record.value);
      output.out(`${position}  ${record.reason}  -> ${result.outcome}`);
      if (result.kept) kept = true;
      else replayed += 1;
    }
    if (dryRun) continue;
    if (kept) {
      output.err(`${object.key}: kept (a record of it was not delivered); run the replay again once the cause is fixed`);
      failed += 1;
      continue;
    }
    await source.remove(object.key);
  }
  output.out(dryRun ? `dry run: ${objects.length} batch(es) in ${source.describe}, nothing published or removed` : `replayed ${replayed} record(s)`);
  return failed > 0 ? EXIT.failed : EXIT.ok;
}

runIfMain(import.meta.url, main);
