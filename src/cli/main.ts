#!/usr/bin/env node
import 'reflect-metadata';
import { LoggerService } from '@nestjs/common';
import { CommandFactory } from 'nest-commander';
import { errorMessage } from '../admin/admin-socket';
import { loadConfig } from '../config/configuration';
import { embeddedDatabaseHolder } from '../database/embedded-database';
import { CliModule } from './cli.module';

/** Logs go to stderr, so that stdout carries only the command's JSON. */
class StderrLogger implements LoggerService {
  log(): void {}
  warn(message: unknown): void {
    process.stderr.write(`warning: ${String(message)}\n`);
  }
  error(message: unknown): void {
    process.stderr.write(`error: ${String(message)}\n`);
  }
}

function fail(error: unknown): never {
  process.stderr.write(`error: ${errorMessage(error)}\n`);
  process.exit(1);
}

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const remote = config.databaseUrl === undefined && embeddedDatabaseHolder(config.dataDir) !== undefined;
  await CommandFactory.run(CliModule.forRoot(config, remote), {
    cliName: 'gatehouse',
    logger: new StderrLogger(),
    errorHandler: (error) => {
      // commander's own messages (unknown command, --help) are already printed.
      const code = (error as { code?: string }).code ?? '';
      if (code === 'commander.helpDisplayed' || code === 'commander.help' || code === 'commander.version') process.exit(0);
      if (code.startsWith('commander.')) process.exit(1);
      fail(error);
    },
    serviceErrorHandler: fail,
  });
  // The application context is closed; exit once stdout is flushed rather than wait for stray handles.
  process.stdout.write('', () => process.exit(process.exitCode ?? 0));
}

main().catch(fail);
