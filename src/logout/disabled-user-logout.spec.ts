import { describe, expect, it, vi } from 'vitest';
import type { Session } from '../sessions/session.entity';
import type { SessionsService } from '../sessions/sessions.service';
import type { RefreshTokenStore } from '../tokens/refresh-token.store';
import type { RevocationService } from '../tokens/revocation.service';
import type { UserDisabledHook, UsersService } from '../users/users.service';
import { DisabledUserLogout } from './disabled-user-logout';
import type { LogoutService } from './logout.service';

describe('DisabledUserLogout', () => {
  const setUp = () => {
    let hook: UserDisabledHook | undefined;
    const sessions = [
      { id: 's1', userId: 'u1' },
      { id: 's2', userId: 'u1' },
    ] as Session[];
    const users = { onDisabled: (registered: UserDisabledHook) => (hook = registered) } as unknown as UsersService;
    const liveSessionsOf = vi.fn().mockResolvedValue(sessions);
    const logout = vi.fn().mockResolvedValue({ frontChannelUris: [], revokedGrants: 1 });
    const activeGrantIds = vi.fn().mockResolvedValue(['g-offline', 'g-password']);
    const revokeGrant = vi.fn().mockResolvedValue(undefined);
    const service = new DisabledUserLogout(
      users,
      { liveSessionsOf } as unknown as SessionsService,
      { logout } as unknown as LogoutService,
      { activeGrantIds } as unknown as RefreshTokenStore,
      { revokeGrant } as unknown as RevocationService,
    );
    service.onModuleInit();
    return { hook: () => hook!, sessions, liveSessionsOf, logout, activeGrantIds, revokeGrant };
  };

  it('registers with UsersService, then logs out every live session of the user and revokes the grants still live', async () => {
    const { hook, sessions, liveSessionsOf, logout, activeGrantIds, revokeGrant } = setUp();
    await hook()('u1');
    expect(liveSessionsOf).toHaveBeenCalledWith('u1');
    expect(logout.mock.calls).toEqual([
      [sessions[0], 'user_disabled'],
      [sessions[1], 'user_disabled'],
    ]);
    expect(activeGrantIds).toHaveBeenCalledWith({ subject: 'u1' });
    expect(revokeGrant.mock.calls).toEqual([
      ['g-offline', 'user_disabled', { subject: 'u1' }],
      ['g-password', 'user_disabled', { subject: 'u1' }],
    ]);
  });

  it('looks for the remaining grants only after the sessions are logged out (logout revokes some of them itself)', async () => {
    const { hook, logout, activeGrantIds } = setUp();
    await hook()('u1');
    expect(logout.mock.invocationCallOrder[1]).toBeLessThan(activeGrantIds.mock.invocationCallOrder[0]);
  });
});
