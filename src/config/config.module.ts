import { DynamicModule, Global, Module } from '@nestjs/common';
import { ConfigModule as NestConfigModule, ConfigService } from '@nestjs/config';
import { AppConfig } from './configuration';

/**
 * The only global module. The configuration is parsed and validated once, before Nest
 * starts (so a bad setting stops the process with one line), then handed to
 * @nestjs/config and exposed to everyone as the typed `AppConfig`.
 */
@Global()
@Module({})
export class ConfigModule {
  static forRoot(config: AppConfig): DynamicModule {
    return {
      module: ConfigModule,
      imports: [NestConfigModule.forRoot({ ignoreEnvFile: true, load: [() => ({ gatehouse: config })] })],
      providers: [
        {
          provide: AppConfig,
          useFactory: (settings: ConfigService) => settings.getOrThrow<AppConfig>('gatehouse'),
          inject: [ConfigService],
        },
      ],
      exports: [AppConfig],
    };
  }
}
