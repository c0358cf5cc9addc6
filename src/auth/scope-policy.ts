import { invalidScope } from '../common/oauth-error';
import { parseScope } from '../clients/client-metadata';

/** The scopes a request names, or undefined when it names none; `invalid_scope` when malformed. */
export function requestedScopes(requested: string | undefined): string[] | undefined {
  if (requested === undefined) return undefined;
  const scopes = parseScope(requested);
  if (!scopes) throw invalidScope('scope has invalid characters');
  return scopes.length > 0 ? scopes : undefined;
}

/**
 * The scopes a request ends up with: the requested ones when they are all within
 * `allowed`, else `invalid_scope`; `fallback` when the request names none.
 */
export function resolveScopes(requested: string | undefined, allowed: readonly string[], fallback: readonly string[] = allowed): string[] {
  const scopes = requestedScopes(requested);
  if (!scopes) return [...fallback];
  const refused = scopes.filter((scope) => !allowed.includes(scope));
  if (refused.length > 0) throw invalidScope(`scope not allowed: ${refused.join(' ')}`);
  return scopes;
}
