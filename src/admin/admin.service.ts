import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { ClientsService } from '../clients/clients.service';
import { runMigrations } from '../database/run-migrations';
import { KeyStore } from '../keys/key-store';
import { SealedValues } from '../secrets/sealed-values';
import { ResourceServersService } from '../tokens/resource-servers.service';
import { User } from '../users/user.entity';
import { UsersService } from '../users/users.service';

/** A user as administrators see it: OpenID Connect claim names, never the password hash. */
export const userView = (user: User): Record<string, unknown> => ({
  sub: user.id,
  username: user.username,
  email: user.email,
  email_verified: user.emailVerified,
  name: user.name,
  given_name: user.givenName,
  family_name: user.familyName,
  disabled: user.disabled,
  locked_until: user.lockedUntil?.toISOString() ?? null,
  created_at: user.createdAt.toISOString(),
});

/**
 * The administration operations, by name, with JSON in and JSON out. The CLI calls them
 * directly, or, when the embedded database is held by a running server, through that
 * server's local admin socket.
 */
@Injectable()
export class AdminService {
  constructor(
    private readonly clients: ClientsService,
    private readonly users: UsersService,
    private readonly keys: KeyStore,
    private readonly resourceServers: ResourceServersService,
    @InjectDataSource() private readonly db: DataSource,
    private readonly sealedValues: SealedValues,
  ) {}

  readonly operations: Record<string, (args: AdminArgs) => Promise<unknown>> = {
    'clients.create': ({ input }) => this.clients.register(input, { allowClientId: true }),
    'clients.list': async () => (await this.clients.list()).map((client) => this.clients.registrationResponse(client)),
    'clients.show': async ({ id }) => this.clients.registrationResponse(await this.clients.get(requireId(id))),
    'clients.delete': async ({ id }) => {
      await this.clients.delete(requireId(id));
      return { client_id: id, deleted: true };
    },
    'clients.rotate-secret': ({ id }) => this.clients.rotateSecret(requireId(id)),
    'users.create': async ({ input }) => userView(await this.users.create(input)),
    'users.list': async () => (await this.users.list()).map(userView),
    'users.disable': async ({ id }) => userView(await this.users.setDisabled(requireId(id), true)),
    'users.enable': async ({ id }) => userView(await this.users.setDisabled(requireId(id), false)),
    'keys.rotate': async () => (await this.keys.rotate()).map((key) => ({ kid: key.kid, alg: key.alg, activates_at: key.activatesAt.toISOString() })),
    'keys.list': async () =>
      this.keys.publishedKeys().map((key) => ({
        kid: key.kid,
        alg: key.alg,
        activates_at: new Date(key.activatesAt).toISOString(),
        unpublish_at: key.unpublishAt ? new Date(key.unpublishAt).toISOString() : null,
      })),
    'keys.reencrypt': () => this.sealedValues.resealAll(),
    'resources.register': ({ input }) => this.resourceServers.register(input),
    'resources.list': () => this.resourceServers.list(),
    'resources.delete': async ({ id }) => {
      await this.resourceServers.remove(requireId(id));
      return { audience: id, deleted: true };
    },
    migrate: async () => ({ applied: (await runMigrations(this.db)).map((migration) => migration.name) }),
  };

  async run(operation: string, args: AdminArgs): Promise<unknown> {
    const handler = this.operations[operation];
    if (!handler) throw new Error(`unknown operation ${operation}`);
    return handler(args);
  }
}

export interface AdminArgs {
  id?: string;
  input?: unknown;
}

function requireId(id: string | undefined): string {
  if (!id) throw new Error('an id is required');
  return id;
}
