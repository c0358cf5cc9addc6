import { DynamicModule, Module } from '@nestjs/common';
import { AdminModule } from '../admin/admin.module';
import { AdminService } from '../admin/admin.service';
import { ConfigModule } from '../config/config.module';
import { AppConfig } from '../config/configuration';
import { AdminGateway, LocalAdminGateway, RemoteAdminGateway } from './admin-gateway';
import { AUDIT_COMMANDS } from './audit-commands';
import { COMMANDS } from './commands';

/**
 * The CLI's application context: the admin services over the database, or, when a
 * running server holds the embedded database, only a gateway to that server's socket.
 */
@Module({})
export class CliModule {
  static forRoot(config: AppConfig, remote: boolean): DynamicModule {
    if (remote) {
      return {
        module: CliModule,
        imports: [ConfigModule.forRoot(config)],
        providers: [...COMMANDS, ...AUDIT_COMMANDS, { provide: AdminGateway, useValue: new RemoteAdminGateway(config.dataDir) }],
      };
    }
    return {
      module: CliModule,
      imports: [ConfigModule.forRoot(config), AdminModule],
      providers: [
        ...COMMANDS,
        ...AUDIT_COMMANDS,
        { provide: AdminGateway, useFactory: (admin: AdminService) => new LocalAdminGateway(admin), inject: [AdminService] },
      ],
    };
  }
}
