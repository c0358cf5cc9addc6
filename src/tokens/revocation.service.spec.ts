import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { DataSource } from 'typeorm';
import { AuditLog } from '../audit/audit-log';
import { MAX_CLIENT_ACCESS_TOKEN_TTL } from '../clients/client-metadata';
import type { ClientsService } from '../clients/clients.service';
import { AppConfig } from '../config/configuration';
import { ChangeFeed } from '../database/change-feed';
import { DenyList } from './deny-list';
import { RefreshTokenStore } from './refresh-token.store';
import { RevocationService } from './revocation.service';

const NOW_MS = new Date('2030-01-01T12:00:00.000Z').getTime();
const SKEW = 30;

let query: ReturnType<typeof vi.fn>;
let revokeGrantRow: ReturnType<typeof vi.fn<RefreshTokenStore['revokeGrant']>>;
let publish: ReturnType<typeof vi.fn<ChangeFeed['publish']>>;
let record: ReturnType<typeof vi.fn<AuditLog['record']>>;
let denyList: DenyList;

function service(accessTokenTtl = 900): RevocationService {
  const config = { clockSkew: SKEW, accessTokenTtl } as AppConfig;
  return new RevocationService(
    { query } as unknown as DataSource,
    { revokeGrant: revokeGrantRow } as unknown as RefreshTokenStore,
    denyList,
    { publish } as unknown as ChangeFeed,
    config,
    { record } as unknown as AuditLog,
    { onDeleted: () => undefined } as unknown as ClientsService,
  );
}

/** The expiry (ms) of the deny entry written to the revocations table. */
const deniedUntil = (): number => (query.mock.calls[0][1] as [string, string, Date])[2].getTime();

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(NOW_MS);
  query = vi.fn().mockResolvedValue([]);
  revokeGrantRow = vi.fn<RefreshTokenStore['revokeGrant']>().mockResolvedValue(true);
  publish = vi.fn<ChangeFeed['publish']>().mockResolvedValue(undefined);
  record = vi.fn<AuditLog['record']>().mockResolvedValue(undefined);
  denyList = new DenyList({} as DataSource, {} as ChangeFeed, {} as AppConfig);
});

afterEach(() => {
  vi.useRealTimers();
});

describe('RevocationService.revokeGrant', () => {
  it('marks the grant revoked, denies it on this instance and tells the others', async () => {
    await service().revokeGrant('grant-1', 'revoked_by_client', { clientId: 'app' });
    expect(revokeGrantRow).toHaveBeenCalledWith('grant-1', 'revoked_by_client');
    expect(query).toHaveBeenCalledWith(expect.stringContaining('INSERT INTO revocations'), ['grant', 'grant-1', expect.any(Date)]);
    expect(denyList.isRevoked({ grant_id: 'grant-1' })).toBe(true);
    expect(publish).toHaveBeenCalledWith('revocations', `grant:${deniedUntil()}:grant-1`);
  });

  it('denies the grant for as long as the longest access token a client may get, plus the clock skew', async () => {
    await service(900).revokeGrant('grant-1', 'revoked_by_client');
    expect(deniedUntil()).toBe(NOW_MS + (MAX_CLIENT_ACCESS_TOKEN_TTL + SKEW) * 1000);
  });

  it('denies the grant for the configured ACCESS_TOKEN_TTL when it is longer than any client lifetime', async () => {
    const configured = 2 * MAX_CLIENT_ACCESS_TOKEN_TTL;
    await service(configured).revokeGrant('grant-1', 'revoked_by_client');
    expect(deniedUntil()).toBe(NOW_MS + (configured + SKEW) * 1000);
  });

  it('records refresh-token reuse as its own audit event', async () => {
    await service().revokeGrant('grant-1', 'refresh_token_reuse', { clientId: 'app', subject: 'user-1' });
    expect(record).toHaveBeenCalledWith('refresh_token.reuse_detected', {
      clientId: 'app',
      subject: 'user-1',
      details: { grant_id: 'grant-1', reason: 'refresh_token_reuse' },
    });
  });

  it('records a replayed authorization code as its own audit event, and other revocations as grant.revoked with the reason', async () => {
    await service().revokeGrant('grant-1', 'authorization_code_reuse', { clientId: 'app', subject: 'user-1', remoteAddress: '198.51.100.4' });
    expect(record).toHaveBeenLastCalledWith('authorization_code.reuse_detected', {
      clientId: 'app',
      subject: 'user-1',
      remoteAddress: '198.51.100.4',
      details: { grant_id: 'grant-1', reason: 'authorization_code_reuse' },
    });
    await service().revokeGrant('grant-2', 'logout', { subject: 'user-1' });
    expect(record).toHaveBeenLastCalledWith('grant.revoked', { subject: 'user-1', details: { grant_id: 'grant-2', reason: 'logout' } });
  });

  it('records nothing when the grant was already revoked, but still denies it', async () => {
    revokeGrantRow.mockResolvedValue(false);
    await service().revokeGrant('grant-1', 'revoked_by_client');
    expect(record).not.toHaveBeenCalled();
    expect(denyList.isRevoked({ grant_id: 'grant-1' })).toBe(true);
  });
});

describe('RevocationService.revokeAccessToken', () => {
  it('denies one token until it expires plus the clock skew', async () => {
    const exp = NOW_MS / 1000 + 600;
    await service().revokeAccessToken('jti-1', exp, { clientId: 'app' });
    expect(deniedUntil()).toBe((exp + SKEW) * 1000);
    expect(denyList.isRevoked({ jti: 'jti-1' })).toBe(true);
    expect(denyList.isRevoked({ jti: 'jti-2' })).toBe(false);
    expect(record).toHaveBeenCalledWith('access_token.revoked', { clientId: 'app', details: { jti: 'jti-1' } });
  });
});
