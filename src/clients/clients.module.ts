import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DatabaseModule } from '../database/database.module';
import { Client } from './client.entity';
import { ClientAuthGuard } from './client-auth.guard';
import { ClientAuthenticator } from './client-authenticator';
import { ClientsService } from './clients.service';
import { CorsPolicy } from './cors-policy';
import { CorsPreflightController } from './cors-preflight.controller';

@Module({
  imports: [TypeOrmModule.forFeature([Client]), DatabaseModule],
  controllers: [CorsPreflightController],
  providers: [ClientsService, ClientAuthenticator, ClientAuthGuard, CorsPolicy],
  exports: [ClientsService, ClientAuthenticator, ClientAuthGuard, CorsPolicy],
})
export class ClientsModule {}
