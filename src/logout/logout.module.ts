import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ClientsModule } from '../clients/clients.module';
import { KeysModule } from '../keys/keys.module';
import { SessionsModule } from '../sessions/sessions.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsersModule } from '../users/users.module';
import { AccountSessionsController } from './account-sessions.controller';
import { BackchannelLogoutSender } from './backchannel-logout.sender';
import { DisabledUserLogout } from './disabled-user-logout';
import { EndSessionController } from './end-session.controller';
import { EndSessionService } from './end-session.service';
import { LogoutService } from './logout.service';
import { SessionGrantsStore } from './session-grants.store';

/**
 * Logout: RP-Initiated (end_session_endpoint), Back-Channel and Front-Channel Logout, and the
 * account endpoints that list and end sessions and grants. AuthModule imports it so that
 * the login pages' POST /logout does the same full logout.
 */
@Module({
  imports: [SessionsModule, TokensModule, KeysModule, ClientsModule, AuditModule, UsersModule],
  controllers: [EndSessionController, AccountSessionsController],
  providers: [LogoutService, EndSessionService, SessionGrantsStore, BackchannelLogoutSender, DisabledUserLogout],
  exports: [LogoutService, BackchannelLogoutSender],
})
export class LogoutModule {}
