import type * as z from './zod-mini.js';

/** How {@link formatZodIssues} names what failed. */
export interface ZodIssueFormat {
  /**
   * Put before every path: where the parsed value sits (`payload` of a frame,
   * `notification_service` of a config section).
   * @default - none
   */
  readonly prefix?: string;
  /**
   * The name of an issue about the whole value (no path).
   * @default '(root)'
   */
  readonly root?: string;
  /**
   * At most this many issues: a value from outside may hold thousands.
   * @default - every issue
   */
  readonly limit?: number;
  /**
   * The keys allowed where unknown ones were found, listed in their message (the
   * configuration's "unknown key (allowed: ...)").
   * @default - the allowed keys are not listed
   */
  readonly allowedKeys?: (path: readonly PropertyKey[]) => readonly string[];
  /**
   * Another name for a path than its dotted form (a command names its option,
   * `--action-url`); undefined keeps the dotted form.
   * @default - the dotted path
   */
  readonly nameOf?: (path: readonly PropertyKey[]) => string | undefined;
}

/**
 * The one way a failed zod parse is told, one line per issue: `a.b: message`, the path
 * dotted from the value's root, or `a.b.c, a.b.d: unknown key (allowed: ...)` for keys a
 * strict object does not know. Configuration errors, rejected frames, records and API
 * bodies all read alike, and every line names what is wrong.
 */
export function formatZodIssues(error: { readonly issues: readonly z.core.$ZodIssue[] }, format: ZodIssueFormat = {}): string[] {
  const issues = format.limit === undefined ? error.issues : error.issues.slice(0, format.limit);
  return issues.map((issue) => {
    const path = pathName(issue.path, format);
    if (issue.code === 'unrecognized_keys') {
      const keys = issue.keys.map((key) => [path, key].filter(Boolean).join('.'));
      const allowed = format.allowedKeys?.(issue.path);
      return `${keys.join(', ')}: unknown key${allowed ? ` (allowed: ${allowed.join(', ')})` : ''}`;
    }
    return `${path || (format.root ?? '(root)')}: ${issue.message}`;
  });
}

function pathName(path: readonly PropertyKey[], format: ZodIssueFormat): string {
  const named = format.nameOf?.(path);
  if (named !== undefined) return named;
  return [format.prefix, ...path.map(String)].filter(Boolean).join('.');
}
