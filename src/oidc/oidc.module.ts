import { Module } from '@nestjs/common';
import { ClientsModule } from '../clients/clients.module';
import { TokensModule } from '../tokens/tokens.module';
import { UsersModule } from '../users/users.module';
import { CheckSessionController } from './check-session.controller';
import { UserInfoController } from './userinfo.controller';
import { UserInfoService } from './userinfo.service';

/** OpenID Connect endpoints beyond the token and authorization endpoints: UserInfo. */
@Module({
  imports: [TokensModule, UsersModule, ClientsModule],
  controllers: [UserInfoController, CheckSessionController],
  providers: [UserInfoService],
})
export class OidcModule {}
