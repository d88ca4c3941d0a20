import { type CommandMessage, type CommandType, parseMessage } from '@flock/protocol';
import type { Logger } from 'pino';
import { errorMessage } from '../support/error-message.js';

export type AckStatus = 'accepted' | 'completed' | 'failed' | 'rejected';

/** What the commands act on, injected so tests never reboot the machine running them. */
export interface CommandActions {
  reboot: (signal: AbortSignal) => Promise<void>;
  restartService: (service: string, signal: AbortSignal) => Promise<void>;
  purgeData: (service: string | undefined, signal: AbortSignal) => Promise<void>;
  identify: () => Promise<void>;
  /** Publishes the state heartbeat now. */
  resync: () => Promise<void>;
  /** Waits (bounded) until queued reports reached the broker: before a reboot. */
  flushReports: (signal: AbortSignal) => Promise<void>;
}

export interface CommandHandlerOptions {
  actions: CommandActions;
  ack: (commandId: string, status: AckStatus, detail?: string) => Promise<void>;
  log: Logger;
}

/** Thrown by an action that cannot be done at all on this device: acknowledged `rejected`. */
export class CommandRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CommandRejected';
  }
}

/** Command ids remembered against QoS 1 redelivery. */
const rememberedIds = 256;

/**
 * Carries out `commands` messages, acknowledging each with `command.ack`
 * events: `accepted` before a reboot (nothing can follow it), otherwise
 * `completed` or `failed`; `rejected` for what cannot be done at all.
 */
export class CommandHandler {
  readonly #options: CommandHandlerOptions;
  readonly #seen: string[] = [];
  #queue: Promise<void> = Promise.resolve();

  constructor(options: CommandHandlerOptions) {
    this.#options = options;
  }

  /** Commands run one at a time, in the order they arrived. */
  handle(payload: Buffer, signal: AbortSignal): Promise<void> {
    const next = this.#queue.then(() => this.#handle(payload, signal));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #handle(payload: Buffer, signal: AbortSignal): Promise<void> {
    const { log, ack } = this.#options;
    const parsed = parseMessage('commands', payload);
    if (!parsed.ok) {
      const id = idOf(payload);
      log.warn({ err: parsed.error, commandId: id }, 'invalid command ignored');
      if (id !== undefined) await ack(id, 'rejected', `invalid command: ${parsed.error}`);
      return;
    }
    const command = parsed.value;
    if (this.#seen.includes(command.id)) return;
    this.#seen.push(command.id);
    if (this.#seen.length > rememberedIds) this.#seen.shift();
    log.info(
      { commandId: command.id, type: command.type, service: command.service },
      'command received',
    );
    try {
      await this.#run(command, signal);
    } catch (error) {
      if (signal.aborted) return;
      const status = error instanceof CommandRejected ? 'rejected' : 'failed';
      log.warn({ commandId: command.id, err: errorMessage(error), status }, 'command not done');
      await ack(command.id, status, errorMessage(error).slice(0, 2000));
    }
  }

  async #run(command: CommandMessage, signal: AbortSignal): Promise<void> {
    const { actions, ack } = this.#options;
    const handlers: Record<CommandType, () => Promise<void>> = {
      reboot: async () => {
        await ack(command.id, 'accepted', 'rebooting');
        await actions.flushReports(signal);
        await actions.reboot(signal);
      },
      restart_service: async () => {
        if (command.service === undefined) {
          await ack(command.id, 'rejected', 'restart_service needs a service');
          return;
        }
        await actions.restartService(command.service, signal);
        await ack(command.id, 'completed');
      },
      purge_data: async () => {
        await actions.purgeData(command.service, signal);
        await ack(command.id, 'completed');
      },
      identify: async () => {
        await actions.identify();
        await ack(command.id, 'completed', 'identified');
      },
      resync: async () => {
        await actions.resync();
        await ack(command.id, 'completed');
      },
    };
    await handlers[command.type]();
  }
}

function idOf(payload: Buffer): string | undefined {
  try {
    const value = JSON.parse(payload.toString('utf8')) as { id?: unknown };
    return typeof value.id === 'string' && value.id.length > 0 && value.id.length <= 64
      ? value.id
      : undefined;
  } catch {
    return undefined;
  }
}
