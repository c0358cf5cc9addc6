import 'reflect-metadata';
import { Logger } from '@nestjs/common';
import { createApp } from './app.factory';
import { ConfigError, loadConfig } from './config/configuration';
import { EmbeddedDatabaseLockedError } from './database/embedded-database';

async function bootstrap(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
  const app = await createApp(config);
  const logger = new Logger('Gatehouse');
  if (config.keyEncryptionKeyGenerated) {
    logger.warn(`KEY_ENCRYPTION_KEY is not set: using a key generated in ${config.dataDir} (development only; set KEY_ENCRYPTION_KEY in production)`);
  }
  await app.listen({ port: config.port, host: config.host });
  logger.log(`Gatehouse listening on ${config.host}:${config.port}, issuer ${config.issuer}, database ${config.databaseUrl ? 'PostgreSQL (DATABASE_URL)' : `embedded in ${config.dataDir}`}`);
}

bootstrap().catch((error: unknown) => {
  const message = error instanceof EmbeddedDatabaseLockedError ? error.message : ((error as Error)?.stack ?? String(error));
  process.stderr.write(`Gatehouse failed to start: ${message}\n`);
  process.exit(1);
});
