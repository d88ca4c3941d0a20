import { loadConfig } from '../platform/config/load-config.js';
import type { Config } from '../platform/config/settings.js';
import { createLogger, type Logger } from '../platform/log/create-logger.js';
import { createMetrics } from '../platform/metrics/create-metrics.js';
import type { Flags } from './command-line.js';
import { exitCodes } from './exit-codes.js';
import { ModuleRegistry, type StartedModules } from './module-registry.js';
import { dependencies, modules, selectableModules } from './modules.js';
import { version } from './version.js';

export function createRegistry(): ModuleRegistry {
  return new ModuleRegistry(modules as never, dependencies, selectableModules);
}

export function configFrom(flags: Flags, env: NodeJS.ProcessEnv): Config {
  return loadConfig({ flags, env });
}

/**
 * Starts the configured targets and stops them on SIGTERM/SIGINT or when a
 * module fails. Resolves with the exit code once everything has stopped.
 */
export async function runServer(config: Config): Promise<number> {
  const log: Logger = createLogger({ level: config.logLevel, format: config.logFormat });
  const registry = createRegistry();
  const order = registry.order(config.target);
  log.info({ version, targets: config.target, modules: order }, `flock-server ${version} starting`);

  let started: StartedModules | undefined;
  let stopping: Promise<number> | undefined;
  let resolveExit: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (resolveExit = resolve));

  const stop = (reason: string, code: number): Promise<number> => {
    stopping ??= (async () => {
      log.info({ reason }, 'stopping');
      const timer = setTimeout(() => {
        log.error({ timeoutMs: config.shutdownTimeoutMs }, 'graceful stop timed out; exiting');
        resolveExit(exitCodes.failure);
      }, config.shutdownTimeoutMs);
      timer.unref();
      await started?.stop();
      clearTimeout(timer);
      log.info('stopped');
      resolveExit(code);
      return code;
    })();
    return stopping;
  };

  const onSignal = (signal: NodeJS.Signals): void => void stop(signal, exitCodes.ok);
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  try {
    started = await registry.start(config.target, {
      config,
      log,
      metrics: createMetrics(version),
      fail: (error) => {
        log.fatal({ err: error }, 'a module failed');
        void stop('module failure', exitCodes.failure);
      },
    });
  } catch (error) {
    log.fatal({ err: error }, 'start failed');
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    return exitCodes.failure;
  }
  if (stopping === undefined) log.info({ targets: config.target }, 'flock-server ready');

  const code = await exited;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}
