import { afterEach, describe, expect, it } from 'vitest';
import { getApplication, type Application } from '../../lambdas/application.js';
import { createServices, getServices, type Services } from '../../lambdas/composition.js';
import { composeFanout, getFanoutParts } from '../../lambdas/composition-fanout.js';
import { composeConnect, getConnectParts, type ConnectParts } from '../../lambdas/composition-welcome.js';
import { tableEnvironment } from '../../protocol/tables.js';
import { UNLIMITED_TIME } from '../../lambdas/domain/retry.js';

/**
 * Handlers written against parts their function does not compose. Never called: they
 * exist to be type-checked by `tsc --noEmit -p .`, the first step of `npm test`. Each
 * `@ts-expect-error` fails the check as soon as the line below it compiles, that is, as
 * soon as a part becomes reachable without importing the module that composes it.
 */
// biome-ignore lint/suspicious/noExportsInTest: exported so that tsc checks the never-run handlers without an unused-locals error
export const handlersThatLackAPart = {
  // lambdas/handlers/fanout.ts, had it taken its parts from composition.ts instead of
  // composition-fanout.ts: the fan-out is not among the services.
  fanout: async () => {
    // @ts-expect-error FanoutService is composed by composition-fanout.ts only
    await getServices().fanout.fanOut([], UNLIMITED_TIME);
  },
  fanoutWorker: (services: Services) => {
    // @ts-expect-error the shard worker is composed by composition-fanout.ts only
    return services.shardWorker;
  },
  deadLetters: (services: Services) => {
    // @ts-expect-error the on-failure queue is composed by composition-fanout.ts only
    return services.deadLetters;
  },
  // lambdas/handlers/connect.ts, had it taken its parts from application.ts instead of
  // composition-welcome.ts: without a welcome scheduler there is no `connect`.
  connect: async (application: Application) => {
    // @ts-expect-error registering a connection is composed by composition-welcome.ts only
    await application.connections.connect('c', { userId: 'u', roles: [] });
  },
  welcomeScheduler: (services: Services) => {
    // @ts-expect-error the welcome scheduler is composed by composition-welcome.ts only
    return services.welcome;
  },
  // $connect's parts hold no fan-out either.
  connectPublishes: (parts: ConnectParts) => {
    // @ts-expect-error composition-welcome.ts composes no fan-out
    return parts.fanout;
  },
};

describe('composition', () => {
  const saved = { ...process.env };
  afterEach(() => {
    for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
    Object.assign(process.env, saved);
  });

  it('gives every handler of one container the same parts, over the same services', () => {
    // Prepare
    Object.assign(process.env, tableEnvironment('composition-'));

    // Act
    const services = getServices();

    // Assess: built once per cold start, shared by each module's parts.
    expect(getServices()).toBe(services);
    expect(getFanoutParts()).toBe(getFanoutParts());
    expect(getFanoutParts().services).toBe(services);
    expect(getConnectParts()).toBe(getConnectParts());
    expect(getConnectParts().services).toBe(services);
    expect(getApplication().services).toBe(services);
    expect(services.dynamoDb).toBe(services.dynamoDb);
  });

  it('builds new parts for a new environment (a second local runtime or test tables in one process)', () => {
    // Prepare
    Object.assign(process.env, tableEnvironment('first-'));
    const first = getFanoutParts();

    // Act
    Object.assign(process.env, tableEnvironment('second-'));
    const second = getFanoutParts();

    // Assess
    // (Not `not.toBe`: its failure message would read every part.)
    expect(second === first).toBe(false);
    expect(first.services.tables.Connections).toMatch(/^first-/);
    expect(second.services.tables.Connections).toMatch(/^second-/);
  });

  it('builds each part on first use only: composing reads none of the variables its parts need', () => {
    // Prepare: no MANAGEMENT_ENDPOINT, no WELCOME_FUNCTION_NAME.
    const environment = { ...tableEnvironment('lazy-'), SERVICE_CONFIG: '{}' };

    // Act
    const fanout = composeFanout(createServices(environment));
    const connect = composeConnect(createServices({ ...environment, MANAGEMENT_ENDPOINT: 'http://127.0.0.1:9/local' }));

    // Assess: a part is built when a handler reads it, and not before.
    expect(fanout.deadLetters).toBeUndefined();
    expect(fanout.shardDispatcher).toBeUndefined();
    expect(() => fanout.fanout).toThrow(/MANAGEMENT_ENDPOINT/);
    // The welcome scheduler (and its Lambda client) waits for the first welcome.
    expect(typeof connect.connections.connect).toBe('function');
  });
});
