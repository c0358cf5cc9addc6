import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { SessionsModule } from '../sessions/sessions.module';
import { ClientsModule } from '../clients/clients.module';
import { LogoutModule } from '../logout/logout.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsersModule } from '../users/users.module';
import { AuthorizationCodesService } from './authorization-codes.service';
import { AuthorizeController } from './authorize.controller';
import { AuthorizeService } from './authorize.service';
import { AuthorizationCodeGrant } from './grants/authorization-code.grant';
import { ClientCredentialsGrant } from './grants/client-credentials.grant';
import { InteractionController } from './interaction.controller';
import { InteractionResponder } from './interaction-responder';
import { InteractionService } from './interaction.service';
import { GrantRegistry } from './grants/grant-registry';
import { PasswordGrant } from './grants/password.grant';
import { RefreshTokenGrant } from './grants/refresh-token.grant';
import { MetadataController } from './metadata.controller';
import { TokenController } from './token.controller';
import { TokenEndpointService } from './token-endpoint.service';
import { TokenAddressThrottle, TokenClientThrottle } from './token-throttle.guard';

/** The grants Gatehouse ships. Other modules add theirs with @TokenGrantStrategy(). */
const GRANTS = [AuthorizationCodeGrant, ClientCredentialsGrant, PasswordGrant, RefreshTokenGrant];

@Module({
  imports: [DiscoveryModule, LogoutModule, ClientsModule, UsersModule, TokensModule, AuditModule, SessionsModule, RateLimitModule],
  controllers: [TokenController, MetadataController, AuthorizeController, InteractionController],
  providers: [
    GrantRegistry,
    TokenEndpointService,
    AuthorizeService,
    AuthorizationCodesService,
    InteractionService,
    InteractionResponder,
    TokenAddressThrottle,
    TokenClientThrottle,
    ...GRANTS,
  ],
  exports: [GrantRegistry],
})
export class AuthModule {}
