import { Module } from '@nestjs/common';
import { PassportModule } from '@nestjs/passport';
import { TypeOrmModule } from '@nestjs/typeorm';
import { KeysModule } from '../keys/keys.module';
import { TokensModule } from '../tokens/tokens.module';
import { AccessTokenDecryptor } from './access-token-decryptor';
import { AccessTokenGuard } from './access-token.guard';
import { AccessTokenStrategy } from './access-token.strategy';
import { ApiController } from './api.controller';
import { Note } from './note.entity';
import { NotesService } from './notes.service';
import { ScopesGuard } from './scopes';

/** The sample resource API, protected by Gatehouse access tokens. */
@Module({
  imports: [TypeOrmModule.forFeature([Note]), PassportModule, KeysModule, TokensModule],
  controllers: [ApiController],
  providers: [AccessTokenDecryptor, AccessTokenStrategy, AccessTokenGuard, ScopesGuard, NotesService],
})
export class ResourceModule {}
