import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { DatabaseModule } from '../database/database.module';
import { RateLimitModule } from '../rate-limit/rate-limit.module';
import { SecretsModule } from '../secrets/secrets.module';
import { Client } from './client.entity';
import { ClientAuthGuard } from './client-auth.guard';
import { ClientAuthLockout } from './client-auth-lockout';
import { ClientAuthenticator } from './client-authenticator';
import { ClientsService } from './clients.service';
import { CorsPolicy } from './cors-policy';
import { CorsPreflightController } from './cors-preflight.controller';
import { DynamicRegistrationService } from './dynamic-registration.service';
import { RegistrationController } from './registration.controller';

@Module({
  imports: [TypeOrmModule.forFeature([Client]), DatabaseModule, AuditModule, RateLimitModule, SecretsModule],
  controllers: [CorsPreflightController, RegistrationController],
  providers: [ClientsService, ClientAuthenticator, ClientAuthGuard, ClientAuthLockout, CorsPolicy, DynamicRegistrationService],
  exports: [ClientsService, ClientAuthenticator, ClientAuthGuard, ClientAuthLockout, CorsPolicy],
})
export class ClientsModule {}
