import { userInfo } from 'node:os';
import { Injectable } from '@nestjs/common';
import { InjectDataSource } from '@nestjs/typeorm';
import { DataSource } from 'typeorm';
import { AuditContext, AuditLog } from '../audit/audit-log';
import { AuditQuery, parseAuditFilter } from '../audit/audit-query';
import { ClientAuthLockout } from '../clients/client-auth-lockout';
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
    private readonly lockout: ClientAuthLockout,
    private readonly users: UsersService,
    private readonly keys: KeyStore,
    private readonly resourceServers: ResourceServersService,
    @InjectDataSource() private readonly db: DataSource,
    private readonly sealedValues: SealedValues,
    private readonly audit: AuditLog,
    private readonly auditTrail: AuditQuery,
  ) {}

  readonly operations: Record<string, (args: AdminArgs) => Promise<unknown>> = {
    'clients.create': ({ input }) => this.clients.register(input, { allowClientId: true }),
    'clients.list': async () => (await this.clients.list()).map((client) => this.clients.registrationResponse(client)),
    'clients.show': async ({ id }) => this.clients.registrationResponse(await this.clients.get(requireId(id))),
    'clients.delete': async ({ id }) => {
      await this.clients.delete(requireId(id));
      return { client_id: id, deleted: true };
    },
    'clients.rotate-secret': async ({ id }) => {
      const rotated = await this.clients.rotateSecret(requireId(id));
      // Guesses were against the old secret: the new one starts unlocked.
      await this.lockout.unlock(rotated.client_id);
      return rotated;
    },
    'clients.unlock': async ({ id }) => {
      const client = await this.clients.get(requireId(id));
      return { client_id: client.clientId, was_locked: await this.lockout.unlock(client.clientId) };
    },
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
    'audit.list': ({ input }) => this.auditTrail.list(parseAuditFilter(input)),
    migrate: async () => ({ applied: (await runMigrations(this.db)).map((migration) => migration.name) }),
  };

  async run(operation: string, args: AdminArgs): Promise<unknown> {
    const handler = this.operations[operation];
    if (!handler) throw new Error(`unknown operation ${operation}`);
    const result = await handler(args);
    const audited = AUDITED_OPERATIONS[operation]?.(args, result);
    if (audited) void this.audit.record(audited[0], { ...audited[1], actor: 'cli', details: { ...audited[1].details, os_user: osUser() } });
    return result;
  }
}

type Row = Record<string, unknown>;

/**
 * The audit event of each operation that changes something, from its arguments and
 * result: ids only, never the secret a result may carry (clients create, rotate-secret).
 */
const AUDITED_OPERATIONS: Record<string, (args: AdminArgs, result: unknown) => [string, AuditContext]> = {
  'clients.create': (_, result) => ['client.created', { clientId: (result as Row).client_id as string }],
  'clients.delete': ({ id }) => ['client.deleted', { clientId: id }],
  'clients.rotate-secret': ({ id }) => ['client.secret_rotated', { clientId: id }],
  'users.create': (_, result) => ['user.created', { subject: (result as Row).sub as string }],
  'users.disable': (_, result) => ['user.disabled', { subject: (result as Row).sub as string }],
  'users.enable': (_, result) => ['user.enabled', { subject: (result as Row).sub as string }],
  'keys.rotate': (_, result) => ['key.rotated', { details: { keys: result } }],
  'resources.register': (_, result) => ['resource_server.registered', { details: { audience: (result as Row).audience } }],
  'resources.delete': ({ id }) => ['resource_server.deleted', { details: { audience: id } }],
};

/** The operating-system account that ran the command (the admin socket is open to that account only). */
function osUser(): string | undefined {
  try {
    return userInfo().username;
  } catch {
    return undefined;
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
