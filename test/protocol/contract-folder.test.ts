import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_REQUEST_TYPES } from '../../protocol/frames.js';
import { ROUTES } from '../../protocol/routes.js';
import { PROJECT_ROOT } from '../../local/project-root.js';

const PROTOCOL = join(PROJECT_ROOT, 'protocol');

/** Every module specifier a file imports or re-exports. */
function importsOf(source: string): string[] {
  return [...source.matchAll(/(?:from|import)\s*\(?\s*['"]([^'"]+)['"]/g)].map((match) => match[1]!);
}

describe('the shared contract (protocol/)', () => {
  it('has one custom route per client request type, and no other: the route table and the frame schemas name the same set', () => {
    // Arrange: the route keys API Gateway selects on the frame's `type`, without $connect, $disconnect and $default.
    const customRouteKeys = ROUTES.map((route) => route.routeKey).filter((key) => !key.startsWith('$'));

    // Assess
    expect(new Set(customRouteKeys)).toEqual(new Set(CLIENT_REQUEST_TYPES));
    expect(customRouteKeys).toHaveLength(CLIENT_REQUEST_TYPES.length);
  });

  it('imports nothing but itself and zod: the Lambda code, the CDK app, the local runtime and the client all build on it, never the other way', () => {
    // Arrange
    const files = readdirSync(PROTOCOL).filter((name) => name.endsWith('.ts'));
    expect(files.length).toBeGreaterThan(5);

    // Act
    const outside = files.flatMap((name) =>
      importsOf(readFileSync(join(PROTOCOL, name), 'utf8'))
        .filter((specifier) => !specifier.startsWith('./') && specifier !== 'zod/mini' && !specifier.startsWith('zod/v4/'))
        .map((specifier) => `${name}: ${specifier}`),
    );

    // Assess
    expect(outside).toEqual([]);
  });
});
