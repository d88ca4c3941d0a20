#!/usr/bin/env node
import { setFlagsFromString } from 'node:v8';
import { Command, CommanderError } from 'commander';
import { pino } from 'pino';
import { AgentError, exitCodes } from './agent-error.js';
import { defaultConfigPath } from './config/agent-config.js';
import { ConfigError, loadConfig } from './config/load-config.js';
import { addSimulateCommand } from './simulator/simulate-command.js';
import type { RunningAgent } from './start-agent.js';
import { errorMessage } from './support/error-message.js';
import { agentVersion } from './version.js';

async function run(configPath: string): Promise<number> {
  // An idle agent has no hot code worth TurboFan, which would cost about
  // 4 MiB of compiler pages and optimized code; Sparkplug stays (decision 0317).
  // Not for `simulate`, whose thousands of devices do keep code hot.
  setFlagsFromString('--max-opt=2');
  const config = loadConfig(configPath);
  const log = pino({ name: 'flockd', level: config.logLevel });
  const stopSignals = ['SIGTERM', 'SIGINT'] as const;
  let agent: RunningAgent | undefined;
  const early = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => {
    log.info({ signal }, 'stopping');
    for (const name of stopSignals) process.off(name, onSignal);
    // A second signal means "now".
    for (const name of stopSignals) process.once(name, () => process.exit(exitCodes.failure));
    early.abort();
    void agent?.stop();
  };
  for (const name of stopSignals) process.on(name, onSignal);
  try {
    // Loaded only to run: --version and configuration errors answer at once.
    const { startAgent } = await import('./start-agent.js');
    agent = await startAgent(config, { log, signal: early.signal });
    if (early.signal.aborted) await agent.stop();
    await agent.finished;
    return exitCodes.ok;
  } catch (error) {
    if (early.signal.aborted && !(error instanceof AgentError)) return exitCodes.ok;
    log.fatal(
      { err: errorMessage(error), code: error instanceof AgentError ? error.code : undefined },
      'flockd stopped',
    );
    return error instanceof AgentError ? error.exitCode : exitCodes.failure;
  }
}

async function main(argv: string[]): Promise<number> {
  const program = new Command('flockd')
    .description('Flock device agent')
    .version(agentVersion, '-v, --version')
    .exitOverride();
  let code: number = exitCodes.ok;
  program
    .command('run')
    .description('register if needed, then run the agent until SIGTERM')
    .option('-c, --config <file>', 'YAML or JSON configuration file', defaultConfigPath)
    .action(async (options: { config: string }) => {
      code = await run(options.config);
    });
  addSimulateCommand(program, (simulated) => (code = simulated));
  await program.parseAsync(argv, { from: 'user' });
  return code;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof CommanderError)
      process.exit(error.exitCode === 0 ? exitCodes.ok : exitCodes.usage);
    if (error instanceof ConfigError) {
      process.stderr.write(
        `flockd: invalid configuration:\n${error.problems.map((p) => `  ${p.key}: ${p.problem}`).join('\n')}\n`,
      );
      process.exit(exitCodes.usage);
    }
    process.stderr.write(
      `flockd: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exit(exitCodes.failure);
  },
);
