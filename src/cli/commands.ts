import { Injectable } from '@nestjs/common';
import { Command, CommandRunner, SubCommand } from 'nest-commander';
import { AdminGateway } from './admin-gateway';

/** Reads all of stdin and parses it as JSON; a clear error when it is not. */
async function readJsonFromStdin(what: string): Promise<unknown> {
  if (process.stdin.isTTY) throw new Error(`pipe the ${what} JSON on standard input`);
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8').trim();
  if (!text) throw new Error(`expected the ${what} JSON on standard input, got nothing`);
  try {
    return JSON.parse(text);
  } catch {
    throw new Error(`standard input is not valid JSON (${what} expected)`);
  }
}

/** A command whose result is printed as JSON on stdout, and nothing else. */
@Injectable()
export abstract class AdminCommand extends CommandRunner {
  constructor(protected readonly admin: AdminGateway) {
    super();
  }

  protected async print(result: Promise<unknown>): Promise<void> {
    process.stdout.write(JSON.stringify(await result, null, 2) + '\n');
  }

  protected id(params: string[], what: string): string {
    if (params.length !== 1 || !params[0]) throw new Error(`expected exactly one ${what}`);
    return params[0];
  }
}

@SubCommand({
  name: 'create',
  description: 'register a client from RFC 7591 metadata JSON on stdin; prints the registration response (with client_secret, once)',
})
export class ClientsCreateCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('clients.create', { input: await readJsonFromStdin('client metadata') }));
  }
}

@SubCommand({ name: 'list', description: 'list clients' })
export class ClientsListCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('clients.list'));
  }
}

@SubCommand({ name: 'show', arguments: '<client_id>', description: "show a client's metadata" })
export class ClientsShowCommand extends AdminCommand {
  async run(params: string[]): Promise<void> {
    await this.print(this.admin.run('clients.show', { id: this.id(params, 'client_id') }));
  }
}

@SubCommand({ name: 'delete', arguments: '<client_id>', description: 'delete a client' })
export class ClientsDeleteCommand extends AdminCommand {
  async run(params: string[]): Promise<void> {
    await this.print(this.admin.run('clients.delete', { id: this.id(params, 'client_id') }));
  }
}

@SubCommand({ name: 'rotate-secret', arguments: '<client_id>', description: 'generate a new client secret (printed once); the old one stops working' })
export class ClientsRotateSecretCommand extends AdminCommand {
  async run(params: string[]): Promise<void> {
    await this.print(this.admin.run('clients.rotate-secret', { id: this.id(params, 'client_id') }));
  }
}

@SubCommand({
  name: 'unlock',
  arguments: '<client_id>',
  description: 'end the lockout of a client whose secret path was locked after repeated failed authentications, on every instance',
})
export class ClientsUnlockCommand extends AdminCommand {
  async run(params: string[]): Promise<void> {
    await this.print(this.admin.run('clients.unlock', { id: this.id(params, 'client_id') }));
  }
}

@Command({
  name: 'clients',
  description: 'manage OAuth clients',
  subCommands: [ClientsCreateCommand, ClientsListCommand, ClientsShowCommand, ClientsDeleteCommand, ClientsRotateSecretCommand, ClientsUnlockCommand],
})
export class ClientsCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new Error('expected a subcommand: create, list, show, delete, rotate-secret, unlock');
  }
}

@SubCommand({ name: 'create', description: 'create a user from {"username","password","email","name"} JSON on stdin; prints the user with its sub' })
export class UsersCreateCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('users.create', { input: await readJsonFromStdin('user') }));
  }
}

@SubCommand({ name: 'list', description: 'list users' })
export class UsersListCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('users.list'));
  }
}

@SubCommand({ name: 'disable', arguments: '<sub_or_username>', description: 'disable a user' })
export class UsersDisableCommand extends AdminCommand {
  async run(params: string[]): Promise<void> {
    await this.print(this.admin.run('users.disable', { id: this.id(params, 'sub or username') }));
  }
}

@SubCommand({ name: 'enable', arguments: '<sub_or_username>', description: 'enable a disabled user' })
export class UsersEnableCommand extends AdminCommand {
  async run(params: string[]): Promise<void> {
    await this.print(this.admin.run('users.enable', { id: this.id(params, 'sub or username') }));
  }
}

@Command({ name: 'users', description: 'manage users', subCommands: [UsersCreateCommand, UsersListCommand, UsersDisableCommand, UsersEnableCommand] })
export class UsersCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new Error('expected a subcommand: create, list, disable, enable');
  }
}

@SubCommand({ name: 'rotate', description: 'start a signing-key rollover: new keys are published now and sign after KEY_PUBLISH_DELAY' })
export class KeysRotateCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('keys.rotate'));
  }
}

@SubCommand({ name: 'list', description: 'list published signing keys' })
export class KeysListCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('keys.list'));
  }
}

@SubCommand({
  name: 'reencrypt',
  description:
    'after a KEY_ENCRYPTION_KEY rotation: re-seal every stored secret (signing keys, client secrets, server secrets) under the current key; prints counts',
})
export class KeysReencryptCommand extends AdminCommand {
  async run(): Promise<void> {
    const summary = (await this.admin.run('keys.reencrypt')) as { remaining: number; remaining_key_ids: string[] };
    await this.print(Promise.resolve(summary));
    if (summary.remaining > 0) {
      process.stderr.write(
        `warning: ${summary.remaining} values are still sealed with key-encryption key(s) ${summary.remaining_key_ids.join(', ')}; ` +
          `give every instance the new key and run this again\n`,
      );
      process.exitCode = 1;
    }
  }
}

@Command({
  name: 'keys',
  description: 'manage signing keys and the key-encryption key',
  subCommands: [KeysRotateCommand, KeysListCommand, KeysReencryptCommand],
})
export class KeysCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new Error('expected a subcommand: rotate, list, reencrypt');
  }
}

@SubCommand({
  name: 'register',
  description: 'register a resource server key from {"audience", "encryption_jwk"} JSON on stdin: its access tokens are then encrypted (JWE)',
})
export class ResourcesRegisterCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('resources.register', { input: await readJsonFromStdin('resource server') }));
  }
}

@SubCommand({ name: 'list', description: 'list resource servers with encryption keys' })
export class ResourcesListCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('resources.list'));
  }
}

@SubCommand({ name: 'delete', arguments: '<audience>', description: "remove a resource server's key (its tokens are signed only again)" })
export class ResourcesDeleteCommand extends AdminCommand {
  async run(params: string[]): Promise<void> {
    await this.print(this.admin.run('resources.delete', { id: this.id(params, 'audience') }));
  }
}

@Command({
  name: 'resources',
  description: 'manage resource servers that receive encrypted access tokens',
  subCommands: [ResourcesRegisterCommand, ResourcesListCommand, ResourcesDeleteCommand],
})
export class ResourcesCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new Error('expected a subcommand: register, list, delete');
  }
}

@Command({ name: 'migrate', description: 'apply pending database migrations' })
export class MigrateCommand extends AdminCommand {
  async run(): Promise<void> {
    await this.print(this.admin.run('migrate'));
  }
}

export const COMMANDS = [
  ClientsCommand,
  ClientsCreateCommand,
  ClientsListCommand,
  ClientsShowCommand,
  ClientsDeleteCommand,
  ClientsRotateSecretCommand,
  ClientsUnlockCommand,
  UsersCommand,
  UsersCreateCommand,
  UsersListCommand,
  UsersDisableCommand,
  UsersEnableCommand,
  KeysCommand,
  KeysRotateCommand,
  KeysListCommand,
  KeysReencryptCommand,
  ResourcesCommand,
  ResourcesRegisterCommand,
  ResourcesListCommand,
  ResourcesDeleteCommand,
  MigrateCommand,
];
