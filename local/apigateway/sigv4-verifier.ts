import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { Hash } from '@smithy/hash-node';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentity, HttpRequest } from '@smithy/types';

/** How far a request's X-Amz-Date may be from now, as API Gateway allows. */
export const SIGNATURE_CLOCK_SKEW_MS = 5 * 60 * 1000;

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/\s,]+)\/(\d{8})\/([^/\s,]+)\/([^/\s,]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;_.-]+),\s*Signature=([0-9a-f]{64})$/;
const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;

export interface SigV4VerifierOptions {
  /** The only credentials a request may be signed with. */
  readonly credentials: AwsCredentialIdentity;
  /** @default 'us-east-1' */
  readonly region?: string;
  /** @default 'execute-api' */
  readonly service?: string;
  /** @default Date.now */
  readonly now?: () => number;
}

/** What a request is verified from: its method, raw target, headers and whole body. */
export interface SignedRequest {
  readonly method: string;
  /** The request target as sent: path (still percent-encoded) and query. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Uint8Array;
}

export type VerificationResult = { readonly ok: true; readonly accessKeyId: string } | { readonly ok: false; readonly reason: string };

/**
 * Verifies AWS Signature Version 4 as API Gateway's AWS_IAM authorization does, for one
 * set of local credentials: the request is signed again from what was received (only
 * the headers it says it signed) and the two signatures are compared in constant time.
 * Presigned URLs (signature in the query) are not accepted.
 */
export class SigV4Verifier {
  readonly region: string;
  readonly service: string;
  readonly #options: SigV4VerifierOptions;
  readonly #signer: SignatureV4;

  constructor(options: SigV4VerifierOptions) {
    this.#options = options;
    this.region = options.region ?? 'us-east-1';
    this.service = options.service ?? 'execute-api';
    this.#signer = new SignatureV4({
      credentials: options.credentials,
      region: this.region,
      service: this.service,
      sha256: Hash.bind(null, 'sha256'),
      // The client's x-amz-content-sha256, if it sent one, is checked below and signed as is.
      applyChecksum: false,
    });
  }

  async verify(request: SignedRequest): Promise<VerificationResult> {
    const refuse = (reason: string): VerificationResult => ({ ok: false, reason });
    const authorization = single(request.headers.authorization);
    if (!authorization) return refuse('the request is not signed: it needs an Authorization header (AWS Signature Version 4)');
    const parts = AUTHORIZATION.exec(authorization);
    if (!parts) return refuse('the Authorization header is not an AWS4-HMAC-SHA256 signature');
    const [, accessKeyId, scopeDate, region, service, signedHeaderList, signature] = parts as unknown as string[];
    if (accessKeyId !== this.#options.credentials.accessKeyId) return refuse('the access key is not known here');
    if (region !== this.region) return refuse(`the credential scope names region ${region}; this API is in ${this.region}`);
    if (service !== this.service) return refuse(`the credential scope names service ${service}; sign for ${this.service}`);

    const amzDate = single(request.headers['x-amz-date']);
    const date = amzDate ? AMZ_DATE.exec(amzDate) : null;
    if (!amzDate || !date) return refuse('X-Amz-Date is missing or not in the form YYYYMMDDTHHMMSSZ');
    if (amzDate.slice(0, 8) !== scopeDate) return refuse('the credential scope date differs from X-Amz-Date');
    const [, y, mo, d, h, mi, s] = date.map(Number) as number[];
    const signingDate = new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
    const now = (this.#options.now ?? Date.now)();
    if (Math.abs(now - signingDate.getTime()) > SIGNATURE_CLOCK_SKEW_MS)
      return refuse('the signature has expired or is not yet valid (X-Amz-Date is more than 5 minutes from now)');

    const signedHeaders = signedHeaderList!.split(';');
    if (!signedHeaders.includes('host')) return refuse('the host header must be signed');
    const headers: Record<string, string> = {};
    for (const name of signedHeaders) {
      const value = request.headers[name];
      if (value === undefined) return refuse(`signed header ${name} is missing from the request`);
      headers[name] = Array.isArray(value) ? value.join(',') : value;
    }
    // A signed payload hash must be the body's: otherwise a captured signature would carry any body.
    const claimedHash = headers['x-amz-content-sha256'];
    if (claimedHash !== undefined && claimedHash !== createHash('sha256').update(request.body).digest('hex')) {
      return refuse('x-amz-content-sha256 is not the hash of the body');
    }

    const target = new URL(request.url, 'http://localhost');
    const query: Record<string, string | string[]> = {};
    for (const [key, value] of target.searchParams) {
      const existing = query[key];
      query[key] = existing === undefined ? value : Array.isArray(existing) ? [...existing, value] : [existing, value];
    }
    const path = request.url.split('?')[0]!;
    const toSign: HttpRequest = {
      method: request.method,
      protocol: 'http:',
      hostname: headers.host!,
      path,
      query,
      headers,
      body: request.body,
    };
    const signed = await this.#signer.sign(toSign, { signingDate, signableHeaders: new Set(signedHeaders) });
    const expected = AUTHORIZATION.exec(single(signed.headers.authorization) ?? '');
    if (!expected || expected[5] !== signedHeaderList) return refuse('the signed headers cannot be verified');
    const a = Buffer.from(expected[6]!, 'hex');
    const b = Buffer.from(signature!, 'hex');
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      return refuse(
        'the signature does not match: check the secret key, the region, the service (execute-api) and that nothing changed the request after signing',
      );
    }
    return { ok: true, accessKeyId: accessKeyId! };
  }
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
