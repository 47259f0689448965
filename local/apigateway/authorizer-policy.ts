import type { InvocationOutcome } from '../lambda/functions.js';
import type { AuthorizerContext } from './events.js';

/** What API Gateway does with the handshake once the authorizer has answered. */
export type AuthorizationDecision =
  | { readonly allowed: true; readonly authorizer: AuthorizerContext }
  | { readonly allowed: false; readonly status: 401 | 403 | 500; readonly message: string; readonly reason: string };

interface PolicyStatement {
  readonly Effect?: unknown;
  readonly Action?: unknown;
  readonly Resource?: unknown;
}

function asList(value: unknown): string[] {
  if (typeof value === 'string') return [value];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
}

/** IAM wildcard match: `*` any run of characters, `?` one character. */
function iamMatches(pattern: string, value: string): boolean {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replaceAll('*', '.*')
    .replaceAll('?', '.');
  return new RegExp(`^${source}$`).test(value);
}

function statementApplies(statement: PolicyStatement, methodArn: string): boolean {
  const actions = asList(statement.Action);
  const resources = asList(statement.Resource);
  return actions.some((action) => iamMatches(action, 'execute-api:Invoke')) && resources.some((resource) => iamMatches(resource, methodArn));
}

const refuse = (status: 401 | 403 | 500, reason: string): AuthorizationDecision => ({
  allowed: false,
  status,
  message: status === 401 ? 'Unauthorized' : status === 403 ? 'Forbidden' : 'Internal server error',
  reason,
});

/**
 * Evaluates a Lambda authorizer's answer as API Gateway does: an error whose message is
 * exactly `Unauthorized` is a 401; any other error, or an answer without principal and
 * policy, is a 500; an explicit Deny, or no Allow for the method, is a 403. Context
 * values must be strings, numbers or booleans (API Gateway fails the request otherwise),
 * and the context plus `principalId` becomes `requestContext.authorizer`.
 */
export function decideAuthorization(outcome: InvocationOutcome, methodArn: string, latencyMs: number): AuthorizationDecision {
  if (!outcome.ok) {
    if (outcome.error.errorMessage === 'Unauthorized') return refuse(401, 'the authorizer threw Unauthorized');
    return refuse(500, `the authorizer failed: ${outcome.error.errorType}: ${outcome.error.errorMessage}`);
  }
  const answer = outcome.result as { principalId?: unknown; policyDocument?: { Statement?: unknown }; context?: unknown } | null | undefined;
  if (typeof answer?.principalId !== 'string') return refuse(500, 'the authorizer answer has no principalId');
  const statements = answer.policyDocument?.Statement;
  if (!Array.isArray(statements)) return refuse(500, 'the authorizer answer has no policyDocument.Statement');

  const context: Record<string, string | number | boolean> = {};
  if (answer.context !== undefined && answer.context !== null) {
    if (typeof answer.context !== 'object') return refuse(500, 'the authorizer context is not an object');
    for (const [key, value] of Object.entries(answer.context)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        return refuse(500, `the authorizer context value ${key} is not a string, number or boolean`);
      }
      context[key] = value;
    }
  }

  const applicable = (statements as PolicyStatement[]).filter((statement) => statementApplies(statement, methodArn));
  if (applicable.some((statement) => statement.Effect === 'Deny')) return refuse(403, 'the policy denies the method');
  if (!applicable.some((statement) => statement.Effect === 'Allow')) return refuse(403, 'the policy does not allow the method');
  return { allowed: true, authorizer: { ...context, principalId: answer.principalId, integrationLatency: latencyMs } };
}
