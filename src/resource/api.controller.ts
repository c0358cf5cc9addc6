import { Body, Controller, Delete, Get, HttpCode, Param, ParseUUIDPipe, Post } from '@nestjs/common';
import { ApiCreatedResponse, ApiNoContentResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { notFound } from '../common/oauth-error';
import { ResourcePrincipal } from './access-token.strategy';
import { CreateNoteDto } from './dto/create-note.dto';
import { NotesService, NoteView } from './notes.service';
import { Principal, Scopes } from './scopes';

/** The sample resource API: what an API consumer calls with a Gatehouse access token. */
@ApiTags('Sample API')
@Controller('api')
export class ApiController {
  constructor(private readonly notes: NotesService) {}

  @Get('me')
  @Scopes()
  @ApiOkResponse({ description: 'The caller: subject, client, scopes and token expiry' })
  me(@Principal() principal: ResourcePrincipal): Record<string, unknown> {
    return { sub: principal.subject, client_id: principal.clientId, scope: principal.scopes.join(' '), exp: principal.expiresAt };
  }

  @Get('notes')
  @Scopes('notes:read')
  @ApiOkResponse({ description: "The caller's notes" })
  list(@Principal() principal: ResourcePrincipal): Promise<NoteView[]> {
    return this.notes.list(principal.subject);
  }

  @Post('notes')
  @Scopes('notes:write')
  @ApiCreatedResponse({ description: 'The new note' })
  create(@Principal() principal: ResourcePrincipal, @Body() body: CreateNoteDto): Promise<NoteView> {
    return this.notes.create(principal.subject, body.text);
  }

  @Delete('notes/:id')
  @HttpCode(204)
  @Scopes('notes:write')
  @ApiNoContentResponse({ description: 'Deleted' })
  async delete(
    @Principal() principal: ResourcePrincipal,
    @Param('id', new ParseUUIDPipe({ exceptionFactory: () => notFound('no such note') })) id: string,
  ): Promise<void> {
    await this.notes.delete(principal.subject, id);
  }
}
