import { makeClient, oauthRejection } from '../../../test/unit/fixtures';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { OAuthError } from '../../common/oauth-error';
import { RateLimits } from '../../rate-limit/rate-limits';
import { Decision } from '../../rate-limit/window-counters';
import { User } from '../../users/user.entity';
import { LoginResult, UsersService } from '../../users/users.service';
import { PasswordGrant } from './password.grant';

const client = makeClient;

const alice = { id: '0b7c3f0e-5a4e-4c1f-9d61-8e1f6b2a9c10', username: 'alice' } as User;

let login: ReturnType<typeof vi.fn<UsersService['login']>>;
let takeExact: ReturnType<typeof vi.fn<(id: string) => Promise<Decision>>>;
let grant: PasswordGrant;

beforeEach(() => {
  login = vi.fn<UsersService['login']>().mockResolvedValue({ ok: true, user: alice } satisfies LoginResult);
  takeExact = vi.fn<(id: string) => Promise<Decision>>().mockResolvedValue({ allowed: true, count: 1, retryAfter: 60 });
  grant = new PasswordGrant({ login } as unknown as UsersService, { signIn: { takeExact } } as unknown as RateLimits);
});

describe('PasswordGrant', () => {
  it('handles grant_type password', () => {
    expect(grant.grantType).toBe('password');
  });

  it.each([
    ['username', { password: 'correct horse' }],
    ['password', { username: 'alice' }],
    ['both', {}],
  ])('answers invalid_request without checking anything when %s is missing', async (_, params) => {
    const error = await oauthRejection(() => grant.handle(client(), params, {}));
    expect(error.code).toBe('invalid_request');
    expect(login).not.toHaveBeenCalled();
  });

  it('checks the username and password with UsersService.login, naming the client and address for its audit record', async () => {
    await grant.handle(client(), { username: 'alice', password: 'correct horse' }, { remoteAddress: '203.0.113.7' });
    expect(login).toHaveBeenCalledWith('alice', 'correct horse', { via: 'password_grant', clientId: 'mobile-app', remoteAddress: '203.0.113.7' });
  });

  it('answers every failure (unknown user, wrong password, locked, disabled) with the same invalid_grant', async () => {
    const errors: OAuthError[] = [];
    for (const reason of ['invalid_credentials', 'locked', 'disabled'] as const) {
      login.mockResolvedValueOnce({ ok: false, reason });
      errors.push(await oauthRejection(() => grant.handle(client(), { username: 'alice', password: 'guess' }, {})));
    }
    for (const error of errors) {
      expect(error.code).toBe('invalid_grant');
      expect(error.status).toBe(400);
      expect(error.description).toBe(errors[0].description);
      expect(error.headers).toEqual({});
    }
    expect(errors[0].description).not.toMatch(/lock|disabled|unknown|exist/i);
  });

  it('on success binds a new grant of type password for the user, with a refresh token when the client may refresh', async () => {
    const app = client();
    const result = await grant.handle(app, { username: 'alice', password: 'correct horse' }, {});
    expect(result.client).toBe(app);
    expect(result.subject).toBe(alice.id);
    expect(result.binding).toEqual({ kind: 'new', grantType: 'password', refreshToken: true, authTime: expect.any(Date) });
  });

  it('binds a new grant without a refresh token when the client may not use refresh_token', async () => {
    const result = await grant.handle(client({ grantTypes: ['password'] }), { username: 'alice', password: 'correct horse' }, {});
    expect(result.binding).toMatchObject({ kind: 'new', refreshToken: false });
  });

  it('sets auth_time to the moment of the login', async () => {
    const before = Date.now();
    const result = await grant.handle(client(), { username: 'alice', password: 'correct horse' }, {});
    const authTime = (result.binding as { authTime: Date }).authTime.getTime();
    expect(authTime).toBeGreaterThanOrEqual(before);
    expect(authTime).toBeLessThanOrEqual(Date.now());
  });

  it("names its grant type and the requester's address for the audit record of the tokens", async () => {
    const result = await grant.handle(client(), { username: 'alice', password: 'correct horse' }, { remoteAddress: '203.0.113.7' });
    expect(result).toMatchObject({ grantType: 'password', remoteAddress: '203.0.113.7' });
  });

  it('grants the client scopes when none is requested, and the requested ones when allowed', async () => {
    expect((await grant.handle(client(), { username: 'alice', password: 'pw' }, {})).scopes).toEqual(['openid', 'notes:read', 'notes:write']);
    expect((await grant.handle(client(), { username: 'alice', password: 'pw', scope: 'notes:read' }, {})).scopes).toEqual(['notes:read']);
  });

  it('counts each password check against LOGIN_RATE_LIMIT of the address, and answers 429 with Retry-After before checking the password once it is reached', async () => {
    await grant.handle(client(), { username: 'alice', password: 'pw' }, { remoteAddress: '203.0.113.7' });
    expect(takeExact).toHaveBeenCalledWith('203.0.113.7');
    takeExact.mockResolvedValueOnce({ allowed: false, count: 31, retryAfter: 17 });
    login.mockClear();
    const error = await oauthRejection(() => grant.handle(client(), { username: 'alice', password: 'pw' }, { remoteAddress: '203.0.113.7' }));
    expect(error).toMatchObject({ code: 'too_many_requests', status: 429, headers: { 'Retry-After': '17' } });
    expect(login).not.toHaveBeenCalled();
  });

  it('refuses a scope outside the client scopes with invalid_scope before the password is checked', async () => {
    const error = await oauthRejection(() => grant.handle(client(), { username: 'alice', password: 'pw', scope: 'admin' }, {}));
    expect(error.code).toBe('invalid_scope');
    expect(login).not.toHaveBeenCalled();
  });
});
