import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DatabaseModule } from '../database/database.module';
import { Client } from './client.entity';
import { ClientAuthGuard } from './client-auth.guard';
import { ClientAuthenticator } from './client-authenticator';
import { ClientsService } from './clients.service';

@Module({
  imports: [TypeOrmModule.forFeature([Client]), DatabaseModule],
  providers: [ClientsService, ClientAuthenticator, ClientAuthGuard],
  exports: [ClientsService, ClientAuthenticator, ClientAuthGuard],
})
export class ClientsModule {}
