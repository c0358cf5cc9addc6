import { Injectable, Logger } from '@nestjs/common';
import { AuditLog } from '../audit/audit-log';
import { ClientsService } from '../clients/clients.service';
import { AppConfig } from '../config/configuration';
import { Session } from '../sessions/session.entity';
import { SessionsService } from '../sessions/sessions.service';
import { RevocationService } from '../tokens/revocation.service';
import { SubjectIdentifiers } from '../tokens/subject-identifiers';
import { BackchannelLogoutSender, BackchannelTarget } from './backchannel-logout.sender';
import { SessionGrantsStore } from './session-grants.store';

export type LogoutReason = 'rp_initiated' | 'user' | 'account' | 'user_disabled';

export interface LogoutResult {
  /** Front-Channel Logout 1.0: the URIs (with iss and sid) the signed-out page loads in iframes. */
  frontChannelUris: string[];
  /** Grants revoked by this logout. */
  revokedGrants: number;
}

/**
 * Logging out: ends the login session and every grant made in it, except (by default)
 * those that asked for offline_access; tells the clients that got tokens in the session,
 * by back-channel (queued, sent in the background) and front-channel (iframes on the
 * signed-out page). Revoking a grant puts its id on every instance's deny list, so its
 * access tokens are refused by the resource API within the sync interval, usually at once.
 */
@Injectable()
export class LogoutService {
  private readonly logger = new Logger(LogoutService.name);

  constructor(
    private readonly sessions: SessionsService,
    private readonly store: SessionGrantsStore,
    private readonly revocation: RevocationService,
    private readonly clients: ClientsService,
    private readonly subjects: SubjectIdentifiers,
    private readonly backchannel: BackchannelLogoutSender,
    private readonly audit: AuditLog,
    private readonly config: AppConfig,
  ) {}

  async logout(session: Session, reason: LogoutReason, remoteAddress?: string): Promise<LogoutResult> {
    await this.sessions.end(session.id);
    const grants = await this.store.grantsOfSession(session.id);
    let revokedGrants = 0;
    for (const grant of grants) {
      if (grant.revoked) continue;
      if (grant.scopes.includes('offline_access') && !this.config.logoutRevokesOfflineAccess) continue;
      await this.revocation.revokeGrant(grant.id, 'logout', { clientId: grant.clientId, subject: session.userId ?? undefined, remoteAddress });
      revokedGrants++;
    }

    const frontChannelUris: string[] = [];
    const targets: BackchannelTarget[] = [];
    for (const clientId of new Set(grants.map((grant) => grant.clientId))) {
      const client = await this.clients.find(clientId);
      if (!client) continue;
      const backchannel = client.metadata.backchannel_logout_uri;
      if (typeof backchannel === 'string' && session.userId) {
        targets.push({ clientId, uri: backchannel, subject: this.subjects.subjectFor(client, session.userId), sessionId: session.id });
      }
      const frontchannel = client.metadata.frontchannel_logout_uri;
      if (typeof frontchannel === 'string') {
        const uri = new URL(frontchannel);
        uri.searchParams.set('iss', this.config.issuer);
        uri.searchParams.set('sid', session.id);
        frontChannelUris.push(uri.toString());
      }
    }
    try {
      await this.backchannel.enqueue(targets);
    } catch (error) {
      // The user is signed out whatever happens to the notifications.
      this.logger.error(`could not queue back-channel logout for ${targets.length} client(s): ${(error as Error).message}`);
    }
    void this.audit.record('session.logged_out', {
      subject: session.userId ?? undefined,
      remoteAddress,
      details: { session_id: session.id, reason, revoked_grants: revokedGrants, backchannel_clients: targets.map((target) => target.clientId) },
    });
    return { frontChannelUris, revokedGrants };
  }
}
