import type { PresenceReplyPayload, StatsReplyPayload } from '../../protocol/frames.js';
import { USER_ID } from '../../protocol/channels.js';
import { producerRecord, type ProducerRecord, type Target } from '../../protocol/records.js';
import * as z from '../../protocol/zod-mini.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import {
  PUBLISH_RECORD_LIMIT,
  SERVER_API_BODY_LIMIT,
  SERVER_API_ERRORS,
  SERVER_API_ROUTES,
  type ServerApiErrorCode,
  type ServerApiRequest,
  type ServerApiResponse,
  type ServerApiRoute,
} from '../../protocol/server-api.js';
import { ADMIN_ROLE } from './access-policy.js';
import { targetOf } from './fanout/audience.js';
import { DeliveryInProgressError, InvalidNotificationError, type NotificationOutcome } from './fanout/fanout-service.js';
import { messageIdOf } from './fanout/message-id.js';
import type { Log, TimeBudget } from './ports.js';
import type { PresenceAsker } from './presence-service.js';
import type { UserDisconnectOutcome } from './user-disconnect-service.js';

/**
 * The server API (docs/protocol.md, "Server API"): what a backend does over HTTPS with
 * IAM (SigV4) auth. Routing and validation live here, so the Lambda handler (API
 * Gateway HTTP API, payload v2) and the local runtime answer every request alike.
 */

/**
 * A record is not started with less time than this left to the invocation: it is
 * answered `failed` (send it again) rather than cut off by the function's timeout,
 * which would lose the answers of every record before it.
 */
export const PUBLISH_TIME_RESERVE_MS = 3000;

/** What became of one record of `POST /publish`, at its place (`index`) in the request. */
export type PublishResult =
  | ({ readonly index: number; readonly status: 'delivered'; readonly messageId: string; readonly target: Target } & Omit<
      Extract<NotificationOutcome, { status: 'delivered' }>,
      'status' | 'messageId' | 'target'
    >)
  | { readonly index: number; readonly status: 'duplicate'; readonly messageId: string }
  | { readonly index: number; readonly status: 'invalid'; readonly reason: string }
  /** Not delivered now (another run holds it, or a store failed): retry with the same messageId. */
  | { readonly index: number; readonly status: 'failed'; readonly messageId: string; readonly reason: string };

/** The operations behind the routes (FanoutService, PresenceService, ... satisfy them). */
export interface ServerApiOperations {
  readonly publisher: { publish(record: ProducerRecord, budget?: TimeBudget): Promise<NotificationOutcome> };
  readonly disconnects: { disconnect(userId: string): Promise<UserDisconnectOutcome> };
  readonly presence: { query(asker: PresenceAsker, userIds: readonly string[]): Promise<PresenceReplyPayload> };
  readonly stats: { collect(): Promise<StatsReplyPayload> };
  readonly log: Log;
}

/** The server API asks as an operator: it sees every user's presence. */
const OPERATOR: PresenceAsker = { connectionId: 'server-api', identity: { userId: 'server-api', roles: [ADMIN_ROLE] } };

const userIdSchema = z.string().check(z.regex(USER_ID, 'a user id'));

export class ServerApiError extends Error {
  constructor(
    readonly code: ServerApiErrorCode,
    message: string,
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ServerApiError';
  }

  get status(): number {
    return SERVER_API_ERRORS[this.code];
  }
}

export function errorResponse(error: ServerApiError): ServerApiResponse {
  return { status: error.status, body: { error: error.code, message: error.message, ...error.details } };
}

export class ServerApi {
  constructor(private readonly operations: ServerApiOperations) {}

  /** Answers one request; bad input is a 4xx answer, never a throw. */
  async handle(request: ServerApiRequest, budget?: TimeBudget): Promise<ServerApiResponse> {
    try {
      const { route, params } = matchRoute(request.method, request.path);
      switch (route.operation) {
        case 'publish':
          return await this.publish(parseBody(request.body), budget);
        case 'disconnectUser':
          return { status: 200, body: await this.operations.disconnects.disconnect(params.userId!) };
        case 'presence':
          return { status: 200, body: await this.operations.presence.query(OPERATOR, [params.userId!]) };
        case 'stats':
          return { status: 200, body: await this.operations.stats.collect() };
      }
    } catch (error) {
      if (error instanceof ServerApiError) return errorResponse(error);
      throw error;
    }
  }

  private async publish(body: unknown, budget: TimeBudget | undefined): Promise<ServerApiResponse> {
    const items = Array.isArray(body) ? body : [body];
    if (items.length === 0) throw new ServerApiError('invalid_request', 'the body is an empty array: send one producer record or an array of 1 to 100');
    if (items.length > PUBLISH_RECORD_LIMIT) {
      throw new ServerApiError('invalid_request', `the body holds ${items.length} records; at most ${PUBLISH_RECORD_LIMIT} per request`);
    }
    const results: PublishResult[] = [];
    // One after the other, in the order sent: as records of one Kafka partition.
    for (const [index, item] of items.entries()) results.push(await this.publishOne(index, item, budget));
    const counts = { delivered: 0, duplicate: 0, invalid: 0, failed: 0 };
    for (const result of results) counts[result.status] += 1;
    if (counts.invalid === results.length) {
      throw new ServerApiError(
        'invalid_records',
        results.length === 1 ? `the record is not valid: ${(results[0] as { reason: string }).reason}` : 'no record is valid',
        { results },
      );
    }
    return { status: 200, body: { results, ...counts } };
  }

  private async publishOne(index: number, item: unknown, budget: TimeBudget | undefined): Promise<PublishResult> {
    const parsed = producerRecord.safeParse(item);
    if (!parsed.success) return { index, status: 'invalid', reason: describeIssues(parsed.error) };
    const target = targetOf(parsed.data, undefined);
    if (typeof target === 'string') return { index, status: 'invalid', reason: target };
    // The key is the record's own, or derived from its target and notificationId: a
    // producer's retry of this publish, with or without the messageId answered here,
    // is the same notification and is answered `duplicate`.
    const messageId = messageIdOf(parsed.data, target);
    if (budget && budget.remainingMs() < PUBLISH_TIME_RESERVE_MS) {
      return { index, status: 'failed', messageId, reason: 'not started: the request ran out of time; send it again with the same messageId' };
    }
    try {
      const outcome = await this.operations.publisher.publish({ ...parsed.data, messageId }, budget);
      if (outcome.status === 'duplicate') return { index, status: 'duplicate', messageId };
      const { status: _status, ...delivered } = outcome;
      return { index, status: 'delivered', ...delivered };
    } catch (error) {
      if (error instanceof InvalidNotificationError) return { index, status: 'invalid', reason: error.message };
      if (error instanceof DeliveryInProgressError)
        return { index, status: 'failed', messageId, reason: 'another run is delivering this messageId; retry it later' };
      this.operations.log.error('server API publish failed', { messageId, error: String(error) });
      return { index, status: 'failed', messageId, reason: 'the delivery failed before it was done; retry with the same messageId' };
    }
  }
}

/** The route a method and path name, and its path parameters; a ServerApiError otherwise. */
export function matchRoute(method: string, path: string): { route: ServerApiRoute; params: Record<string, string> } {
  const segments = splitPath(path);
  const matching = SERVER_API_ROUTES.map((route) => ({ route, params: matchTemplate(route.path, segments) })).filter(
    (candidate): candidate is { route: ServerApiRoute; params: Record<string, string> } => candidate.params !== undefined,
  );
  if (matching.length === 0) {
    throw new ServerApiError('not_found', `no route for ${method.toUpperCase()} ${path}`, {
      routes: SERVER_API_ROUTES.map((route) => `${route.method} ${route.path}`),
    });
  }
  const found = matching.find((candidate) => candidate.route.method === method.toUpperCase());
  if (!found) {
    const allowed = matching.map((candidate) => candidate.route.method);
    throw new ServerApiError('method_not_allowed', `${method.toUpperCase()} is not allowed on ${path} (allowed: ${allowed.join(', ')})`, { allowed });
  }
  for (const [name, value] of Object.entries(found.params)) {
    if (name === 'userId' && !userIdSchema.safeParse(value).success) {
      throw new ServerApiError('invalid_request', `${JSON.stringify(value)} is not a user id (${USER_ID.source})`);
    }
  }
  return found;
}

function splitPath(path: string): string[] {
  const trimmed = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
  return trimmed.split('/').slice(1);
}

function matchTemplate(template: string, segments: readonly string[]): Record<string, string> | undefined {
  const parts = template.split('/').slice(1);
  if (parts.length !== segments.length) return undefined;
  const params: Record<string, string> = {};
  for (const [i, part] of parts.entries()) {
    const segment = segments[i]!;
    const name = /^\{(\w+)\}$/.exec(part)?.[1];
    if (name) {
      let value: string;
      try {
        value = decodeURIComponent(segment);
      } catch {
        throw new ServerApiError('invalid_request', `path segment ${JSON.stringify(segment)} is not valid percent-encoding`);
      }
      if (value === '') return undefined;
      params[name] = value;
    } else if (part !== segment) return undefined;
  }
  return params;
}

/** The body as JSON, within the size limit. */
export function parseBody(body: string | undefined): unknown {
  if (body === undefined || body === '') throw new ServerApiError('invalid_request', 'the body is empty: send one producer record or an array of them (JSON)');
  const bytes = new TextEncoder().encode(body).length;
  if (bytes > SERVER_API_BODY_LIMIT) {
    throw new ServerApiError('payload_too_large', `the body is ${bytes} bytes; at most ${SERVER_API_BODY_LIMIT}`, { limit: SERVER_API_BODY_LIMIT });
  }
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new ServerApiError('invalid_json', `the body is not JSON: ${(error as Error).message}`);
  }
}

function describeIssues(error: z.core.$ZodError): string {
  return formatZodIssues(error).join('; ');
}
