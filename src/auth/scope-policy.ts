import { invalidScope } from '../common/oauth-error';
import { parseScope } from '../clients/client-metadata';

/**
 * The scopes a request ends up with: the requested ones when they are all within
 * `allowed`, else `invalid_scope`; `fallback` when the request names none.
 */
export function resolveScopes(requested: string | undefined, allowed: readonly string[], fallback: readonly string[] = allowed): string[] {
  if (requested === undefined) return [...fallback];
  const scopes = parseScope(requested);
  if (!scopes) throw invalidScope('scope has invalid characters');
  if (scopes.length === 0) return [...fallback];
  const refused = scopes.filter((scope) => !allowed.includes(scope));
  if (refused.length > 0) throw invalidScope(`scope not allowed: ${refused.join(' ')}`);
  return scopes;
}
