import { Injectable } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { ClientsService } from '../clients/clients.service';
import { notFound } from '../common/oauth-error';
import { RefreshTokenStore } from '../tokens/refresh-token.store';
import { RevocationService } from '../tokens/revocation.service';
import { UsersService } from '../users/users.service';
import { ConsentsService } from './consents.service';
import { Session } from './session.entity';

export interface ConsentView {
  client_id: string;
  client_name: string | null;
  scope: string;
  granted_at: string;
}

/** What a signed-in user may see and end about their own account. */
@Injectable()
export class AccountService {
  constructor(
    private readonly users: UsersService,
    private readonly clients: ClientsService,
    private readonly consents: ConsentsService,
    private readonly grants: RefreshTokenStore,
    private readonly revocation: RevocationService,
    private readonly audit: AuditLog,
  ) {}

  async session(session: Session): Promise<Record<string, unknown>> {
    const user = await this.users.get(session.userId!);
    return {
      sub: user.id,
      username: user.username,
      auth_time: session.authTime ? Math.floor(session.authTime.getTime() / 1000) : null,
      csrf_token: session.csrfToken,
    };
  }

  async consentsOf(userId: string): Promise<ConsentView[]> {
    const consents = await this.consents.list(userId);
    return Promise.all(
      consents.map(async (consent) => ({
        client_id: consent.clientId,
        client_name: (await this.clients.find(consent.clientId))?.clientName ?? null,
        scope: consent.scopes.join(' '),
        granted_at: consent.updatedAt.toISOString(),
      })),
    );
  }

  /** Withdraws consent and ends every grant the user gave that client (its tokens stop working). */
  async withdraw(userId: string, clientId: string, remoteAddress?: string): Promise<void> {
    if (!(await this.consents.withdraw(userId, clientId))) throw notFound(`no consent for client ${clientId}`);
    for (const grantId of await this.grants.activeGrantIds({ subject: userId, clientId })) {
      await this.revocation.revokeGrant(grantId, 'consent_withdrawn', { clientId, subject: userId, remoteAddress });
    }
    void this.audit.record('consent.withdrawn', { subject: userId, clientId, remoteAddress });
  }
}
