import { randomBytes } from 'node:crypto';

/**
 * Identifiers shaped like API Gateway's: connection, request and message ids are 11
 * random bytes in standard base64 (`L0SM9cOFvHcCIhw=`), so they may hold `+` and `/`
 * and must be URL-encoded in a Management API path, as in AWS.
 */
export function apiGatewayId(): string {
  return randomBytes(11).toString('base64');
}

/** An API id: ten lower-case alphanumerics, like `abcdef1234`. */
export function apiId(): string {
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789';
  return Array.from(randomBytes(10), (byte) => alphabet[byte % alphabet.length]).join('');
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `requestContext.requestTime`: the access-log format, `19/Jan/2023:21:13:26 +0000`. */
export function requestTime(epochMs: number): string {
  const date = new Date(epochMs);
  const two = (value: number) => String(value).padStart(2, '0');
  return (
    `${two(date.getUTCDate())}/${MONTHS[date.getUTCMonth()]}/${date.getUTCFullYear()}` +
    `:${two(date.getUTCHours())}:${two(date.getUTCMinutes())}:${two(date.getUTCSeconds())} +0000`
  );
}
