import type { Logger } from 'pino';
import type { Outbox } from '../buffer/outbox.js';
import type { AgentConfig } from '../config/agent-config.js';
import { runShellCommand } from '../host-commands/run-shell-command.js';
import type { Reconciler } from '../reconcile/reconciler.js';
import { type ContainerRuntime, serviceLabel } from '../runtime/container-runtime.js';
import { type CommandActions, CommandRejected } from './command-handler.js';

export interface CommandActionsDeps {
  config: AgentConfig;
  runtime: ContainerRuntime;
  reconciler: Reconciler;
  outbox: Outbox;
  log: Logger;
  publishState: () => Promise<void>;
  reboot?: (signal: AbortSignal) => Promise<void>;
}

/** The real effects of the commands, on this device's runtime and host. */
export function commandActions(deps: CommandActionsDeps): CommandActions {
  const { config, runtime, reconciler, outbox, log } = deps;
  return {
    reboot:
      deps.reboot ??
      (async (signal) => {
        log.warn({ command: config.rebootCommand }, 'rebooting on the server’s command');
        const result = await runShellCommand(config.rebootCommand, { timeoutMs: 60_000, signal });
        if (result.exitCode !== 0) {
          throw new Error(
            `${config.rebootCommand} failed (exit ${result.exitCode}): ${result.stderrTail.slice(-500)}`,
          );
        }
      }),
    restartService: async (service, signal) => {
      // Through the reconciler's lock, so no round races the restart.
      await reconciler.exclusive(async () => {
        const containers = (await runtime.listContainers(signal)).filter(
          (c) => c.labels[serviceLabel] === service,
        );
        if (containers.length === 0)
          throw new CommandRejected(`no container of service ${service} exists`);
        for (const container of containers) {
          await runtime.stopContainer(container.id, config.stopTimeoutSeconds, signal);
          await runtime.startContainer(container.id, signal);
        }
      });
      reconciler.wake();
    },
    purgeData: async () => {
      throw new CommandRejected(
        'purge_data is not supported yet: the container runtime cannot remove volumes',
      );
    },
    identify: async () => {
      log.info('identify: the server asked this device to make itself known');
    },
    resync: () => deps.publishState(),
    flushReports: (signal) =>
      outbox.drained(AbortSignal.any([signal, AbortSignal.timeout(10_000)])),
  };
}
