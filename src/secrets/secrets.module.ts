import { Module, OnModuleInit } from '@nestjs/common';
import { AuditModule } from '../audit/audit.module';
import { SecretBox } from '../common/secret-box';
import { AppConfig } from '../config/configuration';
import { DatabaseModule } from '../database/database.module';
import { SealedValues } from './sealed-values';
import { ServerSecrets } from './server-secrets';

/**
 * Secrets at rest: the key-encryption keyring (one SecretBox for the process), the
 * server's own secrets, and the walk over every sealed value (start-up check, re-sealing).
 * Modules that open sealed values import this one, so its start-up runs before theirs.
 */
@Module({
  imports: [DatabaseModule, AuditModule],
  providers: [
    { provide: SecretBox, useFactory: (config: AppConfig) => new SecretBox(config.keyEncryptionKey, config.previousKeyEncryptionKeys), inject: [AppConfig] },
    SealedValues,
    ServerSecrets,
  ],
  exports: [SecretBox, SealedValues, ServerSecrets],
})
export class SecretsModule implements OnModuleInit {
  constructor(
    private readonly sealedValues: SealedValues,
    private readonly serverSecrets: ServerSecrets,
  ) {}

  /** A value this process cannot open stops the start-up in one line naming its key, before anything reads one. */
  async onModuleInit(): Promise<void> {
    await this.sealedValues.assertOpenable();
    await this.serverSecrets.load();
  }
}
