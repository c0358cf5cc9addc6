import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ClientsModule } from '../clients/clients.module';
import { DatabaseModule } from '../database/database.module';
import { KeysModule } from '../keys/keys.module';
import { SecretsModule } from '../secrets/secrets.module';
import { AccessTokenVerifier } from './access-token-verifier';
import { DenyList } from './deny-list';
import { ExpiredTokenCleanup } from './expired-token-cleanup';
import { Grant } from './grant.entity';
import { IdTokenFactory } from './id-token.factory';
import { SubjectIdentifiers } from './subject-identifiers';
import { TokenEncryption } from './token-encryption';
import { IntrospectionService } from './introspection.service';
import { RefreshToken } from './refresh-token.entity';
import { RefreshTokenStore } from './refresh-token.store';
import { ResourceServersService } from './resource-servers.service';
import { Revocation } from './revocation.entity';
import { RevocationService } from './revocation.service';
import { TokenEndpointsController } from './token-endpoints.controller';
import { TokenIssuer } from './token-issuer';
import { TokenRevoker } from './token-revoker';

/** Minting, verifying, rotating and revoking tokens; revocation and introspection endpoints. */
@Module({
  imports: [TypeOrmModule.forFeature([Grant, RefreshToken, Revocation]), DatabaseModule, KeysModule, ClientsModule, AuditModule, SecretsModule],
  controllers: [TokenEndpointsController],
  providers: [
    TokenEncryption,
    ResourceServersService,
    SubjectIdentifiers,
    IdTokenFactory,
    ExpiredTokenCleanup,
    TokenIssuer,
    RefreshTokenStore,
    DenyList,
    RevocationService,
    AccessTokenVerifier,
    IntrospectionService,
    TokenRevoker,
  ],
  exports: [
    ResourceServersService,
    SubjectIdentifiers,
    TokenEncryption,
    IdTokenFactory,
    ExpiredTokenCleanup,
    TokenIssuer,
    RefreshTokenStore,
    RevocationService,
    AccessTokenVerifier,
    DenyList,
  ],
})
export class TokensModule {}
