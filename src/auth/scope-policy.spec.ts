import { describe, expect, it } from 'vitest';
import { OAuthError } from '../common/oauth-error';
import { resolveScopes } from './scope-policy';

const allowed = ['openid', 'profile', 'notes:read', 'notes:write'];

function invalidScope(call: () => unknown): OAuthError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    expect((error as OAuthError).code).toBe('invalid_scope');
    expect((error as OAuthError).status).toBe(400);
    return error as OAuthError;
  }
  throw new Error('expected invalid_scope, nothing was thrown');
}

describe('resolveScopes', () => {
  it('grants every allowed scope when the request names none', () => {
    expect(resolveScopes(undefined, allowed)).toEqual(allowed);
  });

  it('grants the fallback, not the allowed set, when one is given and the request names none', () => {
    expect(resolveScopes(undefined, allowed, ['notes:read'])).toEqual(['notes:read']);
  });

  it('treats a scope of only spaces as naming none', () => {
    expect(resolveScopes('   ', allowed, ['openid'])).toEqual(['openid']);
  });

  it('grants exactly the requested scopes when all are allowed, in request order', () => {
    expect(resolveScopes('notes:write openid', allowed)).toEqual(['notes:write', 'openid']);
  });

  it('removes duplicates and extra spaces from the request', () => {
    expect(resolveScopes(' notes:read  notes:read openid ', allowed)).toEqual(['notes:read', 'openid']);
  });

  it('refuses the whole request when any scope is not allowed, naming the refused ones', () => {
    const error = invalidScope(() => resolveScopes('openid admin notes:delete', allowed));
    expect(error.description).toContain('admin');
    expect(error.description).toContain('notes:delete');
    expect(error.description).not.toContain('openid');
  });

  it('matches scopes exactly: no prefix, case or substring matching', () => {
    invalidScope(() => resolveScopes('notes', allowed));
    invalidScope(() => resolveScopes('OPENID', allowed));
    invalidScope(() => resolveScopes('notes:read:all', allowed));
  });

  it('refuses scopes with characters outside the scope-token syntax', () => {
    invalidScope(() => resolveScopes('openid "profile"', allowed));
    invalidScope(() => resolveScopes('openid\tprofile', allowed));
  });

  it('refuses everything when nothing is allowed', () => {
    invalidScope(() => resolveScopes('openid', []));
    expect(resolveScopes(undefined, [])).toEqual([]);
  });

  it('returns a fresh array: callers may not alter the allowed list through it', () => {
    const result = resolveScopes(undefined, allowed);
    expect(result).not.toBe(allowed);
    result.push('admin');
    expect(allowed).not.toContain('admin');
  });
});
