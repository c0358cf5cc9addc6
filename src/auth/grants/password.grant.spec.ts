import { makeClient, oauthRejection } from '../../../test/unit/fixtures';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AuditLog } from '../../audit/audit-log';
import { OAuthError } from '../../common/oauth-error';
import { User } from '../../users/user.entity';
import { LoginResult, UsersService } from '../../users/users.service';
import { PasswordGrant } from './password.grant';

const client = makeClient;

const alice = { id: '0b7c3f0e-5a4e-4c1f-9d61-8e1f6b2a9c10', username: 'alice' } as User;

let login: ReturnType<typeof vi.fn<(username: string, password: string) => Promise<LoginResult>>>;
let record: ReturnType<typeof vi.fn<AuditLog['record']>>;
let grant: PasswordGrant;

beforeEach(() => {
  login = vi.fn<(username: string, password: string) => Promise<LoginResult>>().mockResolvedValue({ ok: true, user: alice });
  record = vi.fn<AuditLog['record']>().mockResolvedValue(undefined);
  grant = new PasswordGrant({ login } as unknown as UsersService, { record } as unknown as AuditLog);
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
    expect(record).not.toHaveBeenCalled();
  });

  it('checks the username and password with UsersService.login', async () => {
    await grant.handle(client(), { username: 'alice', password: 'correct horse' }, {});
    expect(login).toHaveBeenCalledWith('alice', 'correct horse');
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

  it('records a failed login, or a locked one, in the audit log with the reason and no password', async () => {
    login.mockResolvedValueOnce({ ok: false, reason: 'invalid_credentials' });
    await oauthRejection(() => grant.handle(client(), { username: 'alice', password: 'guess' }, { remoteAddress: '203.0.113.7' }));
    expect(record).toHaveBeenLastCalledWith('login.failed', {
      clientId: 'mobile-app',
      remoteAddress: '203.0.113.7',
      details: { grant_type: 'password', reason: 'invalid_credentials' },
    });

    login.mockResolvedValueOnce({ ok: false, reason: 'locked' });
    await oauthRejection(() => grant.handle(client(), { username: 'alice', password: 'guess' }, {}));
    expect(record).toHaveBeenLastCalledWith('login.locked', expect.objectContaining({ details: { grant_type: 'password', reason: 'locked' } }));
    expect(JSON.stringify(record.mock.calls)).not.toContain('guess');
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

  it('records the successful login with the subject', async () => {
    await grant.handle(client(), { username: 'alice', password: 'correct horse' }, { remoteAddress: '203.0.113.7' });
    expect(record).toHaveBeenCalledWith('login.succeeded', {
      clientId: 'mobile-app',
      subject: alice.id,
      remoteAddress: '203.0.113.7',
      details: { grant_type: 'password' },
    });
  });

  it('grants the client scopes when none is requested, and the requested ones when allowed', async () => {
    expect((await grant.handle(client(), { username: 'alice', password: 'pw' }, {})).scopes).toEqual(['openid', 'notes:read', 'notes:write']);
    expect((await grant.handle(client(), { username: 'alice', password: 'pw', scope: 'notes:read' }, {})).scopes).toEqual(['notes:read']);
  });

  it('refuses a scope outside the client scopes with invalid_scope before the password is checked', async () => {
    const error = await oauthRejection(() => grant.handle(client(), { username: 'alice', password: 'pw', scope: 'admin' }, {}));
    expect(error.code).toBe('invalid_scope');
    expect(login).not.toHaveBeenCalled();
  });
});
