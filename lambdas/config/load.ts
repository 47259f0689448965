import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import * as z from '../../protocol/zod-mini.js';
import { formatZodIssues } from '../../protocol/zod-issues.js';
import { ConfigError } from './errors.js';
import { configSchema, notificationServiceSchema, type Config, type ServiceConfig } from './schema.js';

/** API Gateway's fixed WebSocket limits; the configuration is checked against them. */
export const API_GATEWAY_LIMITS = {
  idleTimeoutSeconds: 600,
  maxConnectionSeconds: 7200,
  messageBytes: 131072,
  frameBytes: 32768,
} as const;

function allowedKeysAt(path: readonly PropertyKey[]): string[] {
  let schema: z.core.$ZodType = configSchema;
  for (const key of path) {
    const shape = objectShape(schema);
    if (!shape || typeof key !== 'string' || !(key in shape)) return [];
    schema = shape[key] as z.core.$ZodType;
  }
  return Object.keys(objectShape(schema) ?? {});
}

function objectShape(schema: z.core.$ZodType): Record<string, unknown> | undefined {
  let current: unknown = schema;
  // Unwrap defaults and optionals down to the object they hold.
  for (let depth = 0; depth < 5; depth += 1) {
    if (current instanceof z.ZodMiniObject) return current.shape as Record<string, unknown>;
    const inner = (current as { def?: { innerType?: unknown } }).def?.innerType;
    if (!inner) return undefined;
    current = inner;
  }
  return undefined;
}

/** Validates a parsed configuration document; throws {@link ConfigError} naming each bad key. */
export function parseConfig(document: unknown, source = 'Config.toml'): Config {
  const result = configSchema.safeParse(document ?? {});
  if (!result.success) {
    const issues = formatZodIssues(result.error, { allowedKeys: allowedKeysAt });
    throw new ConfigError(`${source}: invalid configuration\n  ${issues.join('\n  ')}`, issues);
  }
  return result.data;
}

/** Reads and validates `Config.toml`. A missing file means all defaults. */
export function loadConfigFile(path: string): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return parseConfig({}, path);
    throw new ConfigError(`${path}: cannot be read`, [], { cause: error });
  }
  let document: unknown;
  try {
    document = parseToml(text);
  } catch (error) {
    throw new ConfigError(`${path}: not valid TOML: ${(error as Error).message}`, [], { cause: error });
  }
  return parseConfig(document, path);
}

/**
 * What API Gateway will really do with values it cannot honour, said at load time
 * rather than silently differing (protocol section 8).
 */
export function apiGatewayNotes(config: ServiceConfig): string[] {
  const ws = config.websocket;
  const notes: string[] = [];
  if (ws.idle_timeout > API_GATEWAY_LIMITS.idleTimeoutSeconds) {
    notes.push(
      `notification_service.websocket.idle_timeout = ${ws.idle_timeout}: API Gateway closes a connection after ${API_GATEWAY_LIMITS.idleTimeoutSeconds} s without any frame; clients that follow heartbeat_interval stay open, and cleanup removes connections silent for ${ws.idle_timeout} s`,
    );
  }
  if (ws.heartbeat_interval >= API_GATEWAY_LIMITS.idleTimeoutSeconds) {
    notes.push(
      `notification_service.websocket.heartbeat_interval = ${ws.heartbeat_interval}: at or above API Gateway's ${API_GATEWAY_LIMITS.idleTimeoutSeconds} s idle cut, so idle clients will be disconnected between heartbeats`,
    );
  }
  if (ws.heartbeat_interval >= ws.idle_timeout) {
    notes.push(
      `notification_service.websocket.heartbeat_interval = ${ws.heartbeat_interval}: not below idle_timeout = ${ws.idle_timeout}, so cleanup may remove connections that follow the interval`,
    );
  }
  if (ws.max_frame_size > API_GATEWAY_LIMITS.frameBytes) {
    notes.push(
      `notification_service.websocket.max_frame_size = ${ws.max_frame_size}: API Gateway's frame limit is 32 KB; larger messages reach the service only when the client fragments them (API Gateway reassembles up to 128 KB)`,
    );
  }
  return notes;
}

/** The service section as handed to the Lambdas in `SERVICE_CONFIG` (JSON). */
export function serviceConfigFromJson(json: string | undefined, key = 'SERVICE_CONFIG'): ServiceConfig {
  let document: unknown = {};
  if (json !== undefined && json !== '') {
    try {
      document = JSON.parse(json);
    } catch (error) {
      throw new ConfigError(`${key}: not valid JSON`, [], { cause: error });
    }
  }
  const result = notificationServiceSchema.safeParse(document);
  if (!result.success) {
    const issues = formatZodIssues(result.error, {
      prefix: 'notification_service',
      allowedKeys: (path) => allowedKeysAt(['notification_service', ...path]),
    });
    throw new ConfigError(`${key}: invalid configuration\n  ${issues.join('\n  ')}`, issues);
  }
  return result.data;
}
