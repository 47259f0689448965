import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2, Context } from 'aws-lambda';
import { AccessPolicy } from '../domain/access-policy.js';
import { logger } from '../composition-base.js';
// `POST /publish` delivers as the Kafka path does: the fan-out's parts.
import { getFanoutParts, type FanoutParts } from '../composition-fanout.js';
import { PresenceService } from '../domain/presence-service.js';
import { UNLIMITED_TIME } from '../domain/retry.js';
import { ServerApi } from '../domain/server-api.js';
import { StatsService } from '../domain/stats-service.js';
import { UserDisconnectService } from '../domain/user-disconnect-service.js';
import type { TimeBudget } from '../domain/ports.js';

const serverApis = new WeakMap<FanoutParts, ServerApi>();

/** The server API over the fan-out's parts (built once per container). */
export function serverApiOf(parts: FanoutParts): ServerApi {
  let api = serverApis.get(parts);
  if (!api) {
    const { services } = parts;
    api = new ServerApi({
      publisher: { publish: (record, budget) => parts.fanout.publish(record, budget) },
      disconnects: new UserDisconnectService({ connections: services.connections, sender: services.sender, clock: services.clock, log: services.logger }),
      presence: new PresenceService({ presence: services.presence, connections: services.connections, access: new AccessPolicy(services.config.channels) }),
      stats: new StatsService(services.connections, services.clock),
      log: services.logger,
    });
    serverApis.set(parts, api);
  }
  return api;
}

function budgetOf(context: Context | undefined): TimeBudget {
  return context ? { remainingMs: () => context.getRemainingTimeInMillis() } : UNLIMITED_TIME;
}

function json(statusCode: number, body: unknown): APIGatewayProxyStructuredResultV2 {
  return { statusCode, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) };
}

/**
 * The server API behind an API Gateway HTTP API (payload format 2.0) with AWS_IAM on
 * every route: API Gateway has checked the SigV4 signature before this runs.
 */
export async function handler(event: APIGatewayProxyEventV2, context?: Context): Promise<APIGatewayProxyStructuredResultV2> {
  if (context) logger.addContext(context);
  const { stage, http } = event.requestContext;
  // A named stage is the first segment of rawPath; the $default stage adds none.
  const path = stage && stage !== '$default' && event.rawPath.startsWith(`/${stage}/`) ? event.rawPath.slice(stage.length + 1) : event.rawPath;
  const body = event.body === undefined ? undefined : event.isBase64Encoded ? Buffer.from(event.body, 'base64').toString('utf8') : event.body;
  try {
    const answer = await serverApiOf(getFanoutParts()).handle({ method: http.method, path, body }, budgetOf(context));
    return json(answer.status, answer.body);
  } catch (error) {
    // Only the service's own failures get here (a store or the Management API down).
    logger.error('server API request failed', { method: http.method, path, error: String(error) });
    return json(503, { error: 'unavailable', message: 'the service could not complete the request; retry it (publish: with the same messageId)' });
  }
}
