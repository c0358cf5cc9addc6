import { Module } from '@nestjs/common';
import { TypeOrmModule } from '@nestjs/typeorm';
import { AppConfig } from '../config/configuration';
import { ChangeFeed } from './change-feed';
import { dataSourceOptions } from './database-options';
import { EmbeddedDatabaseHost } from './embedded-database.provider';

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
    }),
  ],
  providers: [ChangeFeed],
  exports: [ChangeFeed],
})
export class DatabaseModule {}
