import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { AdminCommand } from './commands';

interface AuditListOptions {
  event?: string;
  subject?: string;
  client?: string;
  since?: string;
  until?: string;
  limit?: string;
}

@SubCommand({
  name: 'list',
  description: 'print audit events as JSON, newest first (events just queued by the server are written first)',
})
export class AuditListCommand extends AdminCommand {
  async run(_params: string[], options: AuditListOptions = {}): Promise<void> {
    await this.print(this.admin.run('audit.list', { input: options }));
  }

  @Option({ flags: '--event <name>', description: 'an event name, or a prefix ending in * (login.*)' })
  parseEvent(value: string): string {
    return value;
  }

  @Option({ flags: '--subject <sub>', description: "the user's subject" })
  parseSubject(value: string): string {
    return value;
  }

  @Option({ flags: '--client <client_id>', description: 'the client id' })
  parseClient(value: string): string {
    return value;
  }

  @Option({ flags: '--since <when>', description: 'ISO 8601 date-time, or a duration ago (15m, 24h, 7d)' })
  parseSince(value: string): string {
    return value;
  }

  @Option({ flags: '--until <when>', description: 'ISO 8601 date-time, or a duration ago' })
  parseUntil(value: string): string {
    return value;
  }

  @Option({ flags: '--limit <n>', description: 'at most this many events (default 100, at most 10000)' })
  parseLimit(value: string): string {
    return value;
  }
}

@Command({ name: 'audit', description: 'read the audit log of security events', subCommands: [AuditListCommand] })
export class AuditCommand extends CommandRunner {
  async run(): Promise<void> {
    throw new Error('expected a subcommand: list');
  }
}

export const AUDIT_COMMANDS = [AuditCommand, AuditListCommand];
