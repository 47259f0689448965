import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity } from '@smithy/types';

export interface ServerApiAnswer {
  readonly status: number;
  readonly body: any;
}

export interface SignedCallOptions {
  readonly credentials?: AwsCredentialIdentity;
  /** @default now */
  readonly signingDate?: Date;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default 'execute-api' */
  readonly service?: string;
  /** Changes the request after it was signed (tamper tests). */
  readonly afterSigning?: (request: { headers: Record<string, string>; body?: string }) => void;
}

/**
 * Calls the server API signed with the AWS SDK's own SigV4 signer (@smithy/signature-v4,
 * what every AWS SDK v3 client signs with), as a producer's backend would.
 */
export async function callServerApi(
  baseUrl: string,
  credentials: AwsCredentialIdentity,
  method: string,
  path: string,
  body?: unknown,
  options: SignedCallOptions = {},
): Promise<ServerApiAnswer> {
  const url = new URL(`${baseUrl}${path}`);
  const text = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
  const signer = new SignatureV4({
    credentials: options.credentials ?? credentials,
    region: options.region ?? 'us-east-1',
    service: options.service ?? 'execute-api',
    sha256: Hash.bind(null, 'sha256'),
  });
  const query: Record<string, string> = {};
  for (const [key, value] of url.searchParams) query[key] = value;
  const signed = await signer.sign(
    {
      method,
      protocol: url.protocol,
      hostname: url.hostname,
      port: Number(url.port),
      path: url.pathname,
      query,
      headers: { host: url.host, ...(text !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(text !== undefined ? { body: text } : {}),
    },
    options.signingDate ? { signingDate: options.signingDate } : {},
  );
  const request = { headers: { ...signed.headers } as Record<string, string>, body: text };
  options.afterSigning?.(request);
  const { host: _host, ...headers } = request.headers;
  const response = await fetch(url, { method, headers, ...(request.body !== undefined ? { body: request.body } : {}) });
  const answer = await response.text();
  let parsed: unknown = answer;
  try {
    parsed = JSON.parse(answer);
  } catch {
    // kept as text
  }
  return { status: response.status, body: parsed };
}
