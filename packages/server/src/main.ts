#!/usr/bin/env node
import { CommanderError } from 'commander';
import { runAuditVerify } from './app/audit-verify-command.js';
import { parseCommandLine, UsageError } from './app/command-line.js';
import { exitCodes } from './app/exit-codes.js';
import { runOpenApi } from './app/openapi-command.js';
import { UnknownTargetError } from './app/module-graph.js';
import { configFrom, createRegistry, runServer } from './app/run-server.js';
import { dependencies, selectableModules } from './app/modules.js';
import { ConfigError } from './platform/config/load-config.js';
import { redactConfig } from './platform/config/redact-config.js';

async function main(argv: string[]): Promise<number> {
  const invocation = parseCommandLine(argv);
  const config = configFrom(invocation.flags, process.env);
  createRegistry().order(config.target);
  switch (invocation.command) {
    case 'config':
      process.stdout.write(`${JSON.stringify(redactConfig(config), null, 2)}\n`);
      return exitCodes.ok;
    case 'list-targets':
      for (const name of selectableModules) {
        const deps: readonly string[] = dependencies[name as keyof typeof dependencies];
        process.stdout.write(`${name}: ${deps.join(', ') || '-'}\n`);
      }
      return exitCodes.ok;
    case 'run':
      return runServer(config);
    case 'audit-verify':
      return runAuditVerify(config, { json: invocation.json });
    case 'openapi':
      return runOpenApi(invocation.out === undefined ? {} : { out: invocation.out });
  }
}

function usageFailure(error: unknown): string | undefined {
  if (error instanceof ConfigError) {
    return `invalid configuration:\n${error.problems.map((p) => `  ${p.setting}: ${p.problem}`).join('\n')}`;
  }
  if (error instanceof UnknownTargetError || error instanceof UsageError) return error.message;
  return undefined;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CommanderError && error.exitCode === 0) process.exit(exitCodes.ok);
    const usage = usageFailure(error);
    if (usage !== undefined) {
      process.stderr.write(`flock-server: ${usage}\n`);
      process.exit(exitCodes.usage);
    }
    process.stderr.write(
      `flock-server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(exitCodes.failure);
  },
);
