import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { ClientsModule } from '../clients/clients.module';
import { SecretsModule } from '../secrets/secrets.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsersModule } from '../users/users.module';
import { AccountController } from './account.controller';
import { AccountService } from './account.service';
import { Consent } from './consent.entity';
import { ConsentsService } from './consents.service';
import { Session } from './session.entity';
import { SessionsService } from './sessions.service';

/** Browser sessions, remembered consents, and the signed-in user's account endpoints. */
@Module({
  imports: [TypeOrmModule.forFeature([Session, Consent]), UsersModule, ClientsModule, TokensModule, AuditModule, SecretsModule],
  controllers: [AccountController],
  providers: [SessionsService, ConsentsService, AccountService],
  exports: [SessionsService, ConsentsService],
})
export class SessionsModule {}
