import { DynamicModule, Module, Type } from '@nestjs/common';
import { AdminSocketModule } from './admin/admin.module';
import { AuditModule } from './audit/audit.module';
import { AuthModule } from './auth/auth.module';
import { ClientsModule } from './clients/clients.module';
import { ConfigModule } from './config/config.module';
import { AppConfig } from './config/configuration';
import { DatabaseModule } from './database/database.module';
import { HealthModule } from './health/health.module';
import { KeysModule } from './keys/keys.module';
import { LoggingModule } from './logging/logging.module';
import { LogoutModule } from './logout/logout.module';
import { OidcModule } from './oidc/oidc.module';
import { PagesModule } from './pages/pages.module';
import { ResourceModule } from './resource/resource.module';
import { TokensModule } from './tokens/tokens.module';
import { UsersModule } from './users/users.module';

/** Gatehouse: the feature modules, nothing else. `extensions` lets a deployment or a test add modules (e.g. grants). */
@Module({})
export class AppModule {
  static register(config: AppConfig, extensions: Type[] = []): DynamicModule {
    return {
      module: AppModule,
      imports: [
        ConfigModule.forRoot(config),
        LoggingModule.forRoot(config),
        DatabaseModule,
        AuditModule,
        UsersModule,
        ClientsModule,
        KeysModule,
        TokensModule,
        AuthModule,
        ResourceModule,
        OidcModule,
        HealthModule,
        PagesModule,
        LogoutModule,
        AdminSocketModule,
        ...extensions,
      ],
    };
  }
}
