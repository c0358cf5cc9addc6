import { Controller, Get, Header } from '@nestjs/common';
import { ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { KeyStore } from './key-store';

@ApiTags('OAuth 2.0')
@Controller()
export class JwksController {
  constructor(private readonly keys: KeyStore) {}

  @Get('.well-known/jwks.json')
  @Header('Cache-Control', 'public, max-age=60')
  @Header('Access-Control-Allow-Origin', '*')
  @ApiOkResponse({ description: 'RFC 7517 JSON Web Key Set of the signing keys (public parts only)' })
  jwks(): { keys: Record<string, unknown>[] } {
    return this.keys.jwks();
  }
}
