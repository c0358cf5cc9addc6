import { Injectable, OnModuleInit } from '@nestjs/common';
import { SessionsService } from '../sessions/sessions.service';
import { RefreshTokenStore } from '../tokens/refresh-token.store';
import { RevocationService } from '../tokens/revocation.service';
import { UsersService } from '../users/users.service';
import { LogoutService } from './logout.service';

/**
 * Disabling a user ends their access, not only their next sign-in: each of their sessions is
 * logged out as if they had done it (the clients hear of it by back- and front-channel logout
 * as usual), and every grant still live afterwards (offline_access, password grants, grants
 * from no session) is revoked, so refresh tokens stop at once and access tokens are refused
 * by every instance's deny list.
 */
@Injectable()
export class DisabledUserLogout implements OnModuleInit {
  constructor(
    private readonly users: UsersService,
    private readonly sessions: SessionsService,
    private readonly logout: LogoutService,
    private readonly grants: RefreshTokenStore,
    private readonly revocation: RevocationService,
  ) {}

  onModuleInit(): void {
    this.users.onDisabled((userId) => this.endAccessOf(userId));
  }

  async endAccessOf(userId: string): Promise<void> {
    for (const session of await this.sessions.liveSessionsOf(userId)) await this.logout.logout(session, 'user_disabled');
    for (const grantId of await this.grants.activeGrantIds({ subject: userId })) {
      await this.revocation.revokeGrant(grantId, 'user_disabled', { subject: userId });
    }
  }
}
