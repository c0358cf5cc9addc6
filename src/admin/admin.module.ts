import { Module } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { ClientsModule } from '../clients/clients.module';
import { DatabaseModule } from '../database/database.module';
import { KeysModule } from '../keys/keys.module';
import { LogoutModule } from '../logout/logout.module';
import { SecretsModule } from '../secrets/secrets.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsersModule } from '../users/users.module';
import { AdminSocket } from './admin-socket';
import { AdminService } from './admin.service';

/** Administration operations (used by the CLI). */
@Module({
  // LogoutModule: disabling a user through the CLI logs their sessions out and revokes their grants.
  imports: [DatabaseModule, AuditModule, ClientsModule, UsersModule, KeysModule, TokensModule, SecretsModule, LogoutModule],
  providers: [AdminService],
  exports: [AdminService],
})
export class AdminModule {}

/** The server's local admin socket, for the CLI when the database is embedded. */
@Module({
  imports: [AdminModule],
  providers: [AdminSocket],
})
export class AdminSocketModule {}
