import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AuditModule } from '../audit/audit.module';
import { DatabaseModule } from '../database/database.module';
import { SecretsModule } from '../secrets/secrets.module';
import { JwksController } from './jwks.controller';
import { KeyStore } from './key-store';
import { SigningKey } from './signing-key.entity';

@Module({
  imports: [TypeOrmModule.forFeature([SigningKey]), DatabaseModule, SecretsModule, AuditModule],
  controllers: [JwksController],
  providers: [KeyStore],
  exports: [KeyStore],
})
export class KeysModule {}
