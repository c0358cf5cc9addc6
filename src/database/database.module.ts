import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { DataSource, DataSourceOptions } from 'typeorm';
import { AppConfig } from '../config/configuration';
import { ChangeFeed } from './change-feed';
import { dataSourceOptions } from './database-options';
import { EmbeddedDatabaseHost } from './embedded-database.provider';
import { runMigrations } from './run-migrations';

@Module({
  providers: [EmbeddedDatabaseHost],
  exports: [EmbeddedDatabaseHost],
})
class EmbeddedDatabaseModule {}

/** The TypeORM connection (PostgreSQL server or embedded) and the cross-instance change feed. */
@Module({
  imports: [
    TypeOrmModule.forRootAsync({
      imports: [EmbeddedDatabaseModule],
      inject: [AppConfig, EmbeddedDatabaseHost],
      useFactory: async (config: AppConfig, host: EmbeddedDatabaseHost) => ({
        ...dataSourceOptions(config, await host.open()),
        migrationsRun: config.runMigrations,
        autoLoadEntities: true,
        retryAttempts: 0,
      }),
      // Migrations run under an advisory lock, so that instances starting together apply each once.
      dataSourceFactory: async (options) => {
        const { migrationsRun, ...rest } = options as DataSourceOptions;
        const db = await new DataSource({ ...rest, migrationsRun: false } as DataSourceOptions).initialize();
        if (migrationsRun) await runMigrations(db);
        return db;
      },
    }),
  ],
  providers: [ChangeFeed],
  exports: [ChangeFeed],
})
export class DatabaseModule {}
