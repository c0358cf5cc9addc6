import { makeClient, oauthRejection } from '../../../test/unit/fixtures';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { sha256 } from '../../common/crypto';
import { AppConfig } from '../../config/configuration';
import { GrantRecord, RefreshTokenState, RefreshTokenStore } from '../../tokens/refresh-token.store';
import { RevocationService } from '../../tokens/revocation.service';
import { UsersService } from '../../users/users.service';
import { TokenIssuer } from '../../tokens/token-issuer';
import { RefreshTokenGrant } from './refresh-token.grant';

const NOW = new Date('2030-01-01T12:00:00.000Z').getTime();
const PRESENTED = 'presented-refresh-token';
const EXPIRY = new Date(NOW + 14 * 86400_000);
const AUTH_TIME = new Date(NOW - 3600_000);

const client = makeClient;

function grantRecord(overrides: Partial<GrantRecord> = {}): GrantRecord {
  return {
    id: 'grant-1',
    clientId: 'mobile-app',
    subject: 'user-1',
    scopes: ['openid', 'notes:read'],
    sessionId: 'session-1',
    authTime: AUTH_TIME,
    revokedAt: null,
    ...overrides,
  };
}

/** A current (never rotated) token of grant-1. */
function current(overrides: Partial<RefreshTokenState> = {}): RefreshTokenState {
  return { grant: grantRecord(), rotatedAt: null, expiresAt: EXPIRY, ...overrides };
}

/** The same token after it was exchanged `secondsAgo` seconds ago. */
const rotated = (secondsAgo: number, grant: Partial<GrantRecord> = {}): RefreshTokenState => ({
  grant: grantRecord(grant),
  rotatedAt: new Date(NOW - secondsAgo * 1000),
  expiresAt: EXPIRY,
});

let find: ReturnType<typeof vi.fn<RefreshTokenStore['find']>>;
let rotate: ReturnType<typeof vi.fn<RefreshTokenStore['rotate']>>;
let addToken: ReturnType<typeof vi.fn<RefreshTokenStore['addToken']>>;
let revokeGrant: ReturnType<typeof vi.fn<RevocationService['revokeGrant']>>;
let refreshTokenExpiry: ReturnType<typeof vi.fn<TokenIssuer['refreshTokenExpiry']>>;

function refreshGrant(reuseGraceSeconds = 0): RefreshTokenGrant {
  return new RefreshTokenGrant(
    { find, rotate, addToken } as unknown as RefreshTokenStore,
    { revokeGrant } as unknown as RevocationService,
    { refreshTokenExpiry } as unknown as TokenIssuer,
    { refreshTokenReuseGrace: reuseGraceSeconds } as AppConfig,
    { findBySubject: vi.fn().mockResolvedValue({ id: 'user-1', disabled: false }) } as unknown as UsersService,
  );
}

/** The presented token as the database holds it; rotate() below behaves like its one SQL statement. */
let stored: RefreshTokenState | undefined;

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW);
  stored = current();
  find = vi.fn<RefreshTokenStore['find']>(async () => stored);
  rotate = vi.fn<RefreshTokenStore['rotate']>(async (hash, clientId, _successor, _expiresAt, scopes) => {
    const live = stored && hash === sha256(PRESENTED) && !stored.rotatedAt && !stored.grant.revokedAt && stored.expiresAt.getTime() > Date.now();
    if (!stored || !live || stored.grant.clientId !== clientId) return undefined;
    if (scopes && !scopes.every((scope) => stored!.grant.scopes.includes(scope))) return undefined;
    stored = { ...stored, rotatedAt: new Date() };
    return stored.grant;
  });
  addToken = vi.fn<RefreshTokenStore['addToken']>().mockResolvedValue(undefined);
  revokeGrant = vi.fn<RevocationService['revokeGrant']>().mockResolvedValue(undefined);
  refreshTokenExpiry = vi.fn<TokenIssuer['refreshTokenExpiry']>().mockReturnValue(EXPIRY);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('RefreshTokenGrant request checks', () => {
  it('handles grant_type refresh_token', () => {
    expect(refreshGrant().grantType).toBe('refresh_token');
  });

  it('answers invalid_request when refresh_token is missing, without reading the store', async () => {
    const error = await oauthRejection(() => refreshGrant().handle(client(), {}, {}));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toContain('refresh_token');
    expect(find).not.toHaveBeenCalled();
    expect(rotate).not.toHaveBeenCalled();
  });

  it('rotates with one call to the store, by the SHA-256 hash of the token, never the token itself', async () => {
    await refreshGrant().handle(client(), { refresh_token: PRESENTED }, {});
    expect(rotate).toHaveBeenCalledTimes(1);
    expect(rotate.mock.calls[0][0]).toBe(sha256(PRESENTED));
    expect(find).not.toHaveBeenCalled();
    expect(JSON.stringify([find.mock.calls, rotate.mock.calls])).not.toContain(PRESENTED);
  });

  it('answers invalid_grant for an unknown token', async () => {
    stored = undefined;
    const error = await oauthRejection(() => refreshGrant().handle(client(), { refresh_token: PRESENTED }, {}));
    expect(error.code).toBe('invalid_grant');
    expect(find).toHaveBeenCalledWith(sha256(PRESENTED));
  });

  it("answers invalid_grant for another client's token, without rotating or revoking it", async () => {
    stored = current({ grant: grantRecord({ clientId: 'other-app' }) });
    const error = await oauthRejection(() => refreshGrant().handle(client(), { refresh_token: PRESENTED }, {}));
    expect(error.code).toBe('invalid_grant');
    expect(stored.rotatedAt).toBeNull();
    expect(revokeGrant).not.toHaveBeenCalled();
    expect(addToken).not.toHaveBeenCalled();
  });

  it('answers invalid_scope for a scope wider than the grant, without consuming the token', async () => {
    const error = await oauthRejection(() => refreshGrant().handle(client(), { refresh_token: PRESENTED, scope: 'openid notes:write' }, {}));
    expect(error.code).toBe('invalid_scope');
    expect(error.description).toContain('notes:write');
    expect(rotate.mock.calls[0][4]).toEqual(['openid', 'notes:write']);
    expect(stored!.rotatedAt).toBeNull();
    expect(revokeGrant).not.toHaveBeenCalled();
  });

  it('refuses widening to a scope the client has but the grant has not', async () => {
    expect(client().scopes).toContain('notes:write');
    expect((await oauthRejection(() => refreshGrant().handle(client(), { refresh_token: PRESENTED, scope: 'notes:write' }, {}))).code).toBe('invalid_scope');
    expect(stored!.rotatedAt).toBeNull();
  });

  it('answers invalid_scope for a malformed scope before asking the store', async () => {
    expect((await oauthRejection(() => refreshGrant().handle(client(), { refresh_token: PRESENTED, scope: 'notes:read "x' }, {}))).code).toBe('invalid_scope');
    expect(rotate).not.toHaveBeenCalled();
  });
});

describe('RefreshTokenGrant rotation', () => {
  it('rotates the presented token to a new one and returns the existing grant', async () => {
    const app = client();
    const result = await refreshGrant().handle(app, { refresh_token: PRESENTED }, {});
    expect(rotate).toHaveBeenCalledTimes(1);
    const [presentedHash, clientId, successorHash, expiresAt, scopes] = rotate.mock.calls[0];
    expect(presentedHash).toBe(sha256(PRESENTED));
    expect(clientId).toBe('mobile-app');
    expect(expiresAt).toBe(EXPIRY);
    expect(scopes).toBeUndefined();
    expect(refreshTokenExpiry).toHaveBeenCalledWith({ client: app });

    expect(result.client).toBe(app);
    expect(result.subject).toBe('user-1');
    expect(result.scopes).toEqual(['openid', 'notes:read']);
    expect(result.binding).toEqual({ kind: 'existing', grantId: 'grant-1', refreshToken: expect.any(String), sessionId: 'session-1', authTime: AUTH_TIME });
    const successor = (result.binding as { refreshToken: string }).refreshToken;
    expect(successor).not.toBe(PRESENTED);
    expect(successor).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(successorHash).toBe(sha256(successor));
  });

  it('issues a different successor on every refresh', async () => {
    const first = await refreshGrant().handle(client(), { refresh_token: PRESENTED }, {});
    stored = current();
    const second = await refreshGrant().handle(client(), { refresh_token: PRESENTED }, {});
    expect((first.binding as { refreshToken: string }).refreshToken).not.toBe((second.binding as { refreshToken: string }).refreshToken);
  });

  it('narrows the scope when the request asks for less than the grant', async () => {
    const result = await refreshGrant().handle(client(), { refresh_token: PRESENTED, scope: 'notes:read' }, {});
    expect(result.scopes).toEqual(['notes:read']);
    expect(rotate.mock.calls[0][4]).toEqual(['notes:read']);
  });

  it('neither revokes nor adds tokens on a successful rotation', async () => {
    await refreshGrant(60).handle(client(), { refresh_token: PRESENTED }, {});
    expect(revokeGrant).not.toHaveBeenCalled();
    expect(addToken).not.toHaveBeenCalled();
  });
});

describe('RefreshTokenGrant reuse detection', () => {
  it('revokes the whole grant with reason refresh_token_reuse when a rotated token comes back after the grace period', async () => {
    stored = rotated(10);
    const error = await oauthRejection(() => refreshGrant(5).handle(client(), { refresh_token: PRESENTED }, { remoteAddress: '203.0.113.7' }));
    expect(error.code).toBe('invalid_grant');
    expect(revokeGrant).toHaveBeenCalledWith('grant-1', 'refresh_token_reuse', { clientId: 'mobile-app', subject: 'user-1', remoteAddress: '203.0.113.7' });
    expect(addToken).not.toHaveBeenCalled();
  });

  it('with no grace period (the default, 0) revokes on any reuse', async () => {
    stored = rotated(1);
    await oauthRejection(() => refreshGrant(0).handle(client(), { refresh_token: PRESENTED }, {}));
    expect(revokeGrant).toHaveBeenCalledWith('grant-1', 'refresh_token_reuse', { clientId: 'mobile-app', subject: 'user-1' });
  });

  it('with no grace period revokes even a reuse in the same millisecond, or when the database clock is ahead', async () => {
    for (const secondsAgo of [0, -2]) {
      stored = rotated(secondsAgo);
      const error = await oauthRejection(() => refreshGrant(0).handle(client(), { refresh_token: PRESENTED }, {}));
      expect(error.code).toBe('invalid_grant');
    }
    expect(revokeGrant).toHaveBeenCalledTimes(2);
    expect(addToken).not.toHaveBeenCalled();
  });

  it('within the grace period adds a new token to the grant and succeeds, without revoking', async () => {
    stored = rotated(3);
    const result = await refreshGrant(5).handle(client(), { refresh_token: PRESENTED, scope: 'openid' }, {});
    expect(revokeGrant).not.toHaveBeenCalled();
    expect(addToken).toHaveBeenCalledTimes(1);
    const [grantId, tokenHash, expiresAt] = addToken.mock.calls[0];
    expect(grantId).toBe('grant-1');
    expect(expiresAt).toBe(EXPIRY);
    expect(result.subject).toBe('user-1');
    expect(result.scopes).toEqual(['openid']);
    expect(result.binding).toEqual({ kind: 'existing', grantId: 'grant-1', refreshToken: expect.any(String), sessionId: 'session-1', authTime: AUTH_TIME });
    expect(tokenHash).toBe(sha256((result.binding as { refreshToken: string }).refreshToken));
  });

  it('treats the end of the grace period as inside it, and one millisecond later as reuse', async () => {
    stored = rotated(5);
    await refreshGrant(5).handle(client(), { refresh_token: PRESENTED }, {});
    expect(revokeGrant).not.toHaveBeenCalled();

    stored = rotated(5.001);
    await oauthRejection(() => refreshGrant(5).handle(client(), { refresh_token: PRESENTED }, {}));
    expect(revokeGrant).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['its grant is revoked', rotated(1, { revokedAt: new Date(NOW - 500) })],
    ['it has expired', { ...rotated(1), expiresAt: new Date(NOW - 1) }],
    ['it was never rotated (the grant was revoked or the token expired in between)', current()],
  ])('answers invalid_grant without revoking or adding a token when the rotation failed because %s', async (_, state) => {
    rotate.mockResolvedValue(undefined); // the token changed between the statement and the look
    stored = state;
    const error = await oauthRejection(() => refreshGrant(60).handle(client(), { refresh_token: PRESENTED }, {}));
    expect(error.code).toBe('invalid_grant');
    expect(revokeGrant).not.toHaveBeenCalled();
    expect(addToken).not.toHaveBeenCalled();
  });

  it('answers invalid_grant when the token vanished between the rotation and the look', async () => {
    rotate.mockResolvedValue(undefined);
    stored = undefined;
    expect((await oauthRejection(() => refreshGrant(60).handle(client(), { refresh_token: PRESENTED }, {}))).code).toBe('invalid_grant');
    expect(revokeGrant).not.toHaveBeenCalled();
  });
});
