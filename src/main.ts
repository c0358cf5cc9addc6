import 'reflect-metadata';
import cluster from 'node:cluster';
import pino from 'pino';
import { createApp } from './app.factory';
import { runClusterPrimary } from './cluster-primary';
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
  const logger = pino({ level: config.logLevel, base: { service: 'gatehouse', pid: process.pid } }).child({ context: 'Gatehouse' });
  if (cluster.isPrimary) {
    if (config.databaseUrl) {
      logger.info(`database: PostgreSQL server from DATABASE_URL`);
    } else {
      logger.warn(`database: no DATABASE_URL set, using the embedded PostgreSQL (PGlite) in ${config.dataDir}; set DATABASE_URL for production`);
    }
    if (config.keyEncryptionKeyGenerated) {
      logger.warn(`KEY_ENCRYPTION_KEY is not set: using a key generated once in ${config.dataDir} (development only; set KEY_ENCRYPTION_KEY in production)`);
    }
  }
  if (config.workers > 1 && cluster.isPrimary) {
    await runClusterPrimary(config.workers, logger);
    return;
  }
  const app = await createApp(config);
  await app.listen({ port: config.port, host: config.host });
  logger.info(`Gatehouse listening on http://${config.host}:${config.port} with issuer ${config.issuer}`);

  // Graceful shutdown: stop accepting connections, finish requests in flight, run every
  // module's shutdown hook (timers, listeners, database), then exit 0.
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info(`${signal} received: finishing requests in flight and shutting down`);
    const deadline = setTimeout(() => process.exit(1), 25_000);
    deadline.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error(`shutdown failed: ${(error as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

bootstrap().catch((error: unknown) => {
  const message = error instanceof EmbeddedDatabaseLockedError ? error.message : ((error as Error)?.stack ?? String(error));
  process.stderr.write(`Gatehouse failed to start: ${message}\n`);
  process.exit(1);
});
