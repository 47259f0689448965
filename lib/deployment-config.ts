import { readFileSync } from 'node:fs';
import { parse as parseToml } from 'smol-toml';
import { ConfigError } from '../lambdas/config/errors.js';
import { parseConfig } from '../lambdas/config/load.js';
import type { Config, ServiceConfig } from '../lambdas/config/schema.js';
import type { DeploymentConfig } from './deployment-schema.js';

/** The configuration the CDK app deploys: both sections, validated. */
export interface DeploymentSettings {
  readonly service: ServiceConfig;
  readonly deployment: DeploymentConfig;
}

/** Context keys that override Config.toml, as `-c deployment.kafka.batch_size=50`. */
const OVERRIDABLE_SECTIONS = ['deployment', 'notification_service'] as const;

/**
 * Reads Config.toml, applies CDK context overrides and validates the result once with the
 * same schema the local runtime uses.
 *
 * Overrides, in order:
 * - context `deployment` / `notification_service` holding an object (cdk.json), merged key by key;
 * - context `deployment.<path>` / `notification_service.<path>` holding one value (`-c`):
 *   JSON when it parses as JSON (numbers, booleans, arrays), else the string itself.
 *
 * @throws ConfigError naming each bad key and what is allowed.
 */
export function loadDeploymentSettings(path: string, context: Readonly<Record<string, unknown>> = {}): DeploymentSettings {
  const document = readToml(path);
  for (const section of OVERRIDABLE_SECTIONS) {
    const value = context[section];
    if (value === undefined) continue;
    const object = typeof value === 'string' ? parseJsonObject(value, section) : value;
    if (!isPlainObject(object)) throw new ConfigError(`context ${section}: expected an object (a TOML table), got ${JSON.stringify(value)}`);
    document[section] = deepMerge(isPlainObject(document[section]) ? document[section] : {}, object);
  }
  const dotted = Object.keys(context)
    .filter((key) => OVERRIDABLE_SECTIONS.some((section) => key.startsWith(`${section}.`)))
    .sort();
  for (const key of dotted) setPath(document, key.split('.'), contextValue(context[key]));
  const config: Config = parseConfig(document, dotted.length > 0 ? `${path} (with context ${dotted.join(', ')})` : path);
  if (!config.deployment) {
    throw new ConfigError(`${path}: deployment: missing; the CDK app needs a [deployment] table with at least [deployment.kafka] (see README, "Deploy")`, [
      'deployment: missing',
    ]);
  }
  return { service: config.notification_service, deployment: config.deployment };
}

function readToml(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`${path}: cannot be read (the CDK app needs it; choose another with -c config=<path>)`, [], { cause: error });
  }
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`${path}: not valid TOML: ${(error as Error).message}`, [], { cause: error });
  }
}

function contextValue(value: unknown): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}

function parseJsonObject(text: string, key: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`context ${key}: not valid JSON`, [], { cause: error });
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function deepMerge(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    merged[key] = isPlainObject(value) && isPlainObject(merged[key]) ? deepMerge(merged[key], value) : value;
  }
  return merged;
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let current = target;
  for (const key of path.slice(0, -1)) {
    if (!isPlainObject(current[key])) current[key] = {};
    current = current[key] as Record<string, unknown>;
  }
  current[path[path.length - 1]] = value;
}
