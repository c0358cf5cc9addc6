import { Module } from '@nestjs/common';
import { DiscoveryModule } from '@nestjs/core';
import { AuditModule } from '../audit/audit.module';
import { ClientsModule } from '../clients/clients.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsersModule } from '../users/users.module';
import { ClientCredentialsGrant } from './grants/client-credentials.grant';
import { GrantRegistry } from './grants/grant-registry';
import { PasswordGrant } from './grants/password.grant';
import { RefreshTokenGrant } from './grants/refresh-token.grant';
import { MetadataController } from './metadata.controller';
import { TokenController } from './token.controller';
import { TokenEndpointService } from './token-endpoint.service';

/** The grants Gatehouse ships. Other modules add theirs with @TokenGrantStrategy(). */
const GRANTS = [ClientCredentialsGrant, PasswordGrant, RefreshTokenGrant];

@Module({
  imports: [DiscoveryModule, ClientsModule, UsersModule, TokensModule, AuditModule],
  controllers: [TokenController, MetadataController],
  providers: [GrantRegistry, TokenEndpointService, ...GRANTS],
  exports: [GrantRegistry],
})
export class AuthModule {}
