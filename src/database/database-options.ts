import { DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { EmbeddedDatabase } from './embedded-database';
import { MIGRATIONS } from './migrations';

/**
 * TypeORM options for either a PostgreSQL server (DATABASE_URL) or the embedded
 * engine. `synchronize` is never on: the schema comes from migrations only.
 */
export function dataSourceOptions(config: AppConfig, embedded: EmbeddedDatabase | undefined): DataSourceOptions {
  const common = {
    type: 'postgres' as const,
    migrations: MIGRATIONS,
    migrationsRun: false,
    migrationsTransactionMode: 'each' as const,
    synchronize: false,
    logging: false,
  };
  if (embedded) {
    return { ...common, poolSize: 1, extra: embedded.pgConfig() };
  }
  return {
    ...common,
    url: config.databaseUrl,
    poolSize: config.databasePoolSize,
    extra: {
      // Fail fast when PostgreSQL is unreachable instead of queueing forever.
      connectionTimeoutMillis: 3000,
      statement_timeout: 15000,
      application_name: 'gatehouse',
    },
  };
}
