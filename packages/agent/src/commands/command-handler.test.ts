import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import {
  type AckStatus,
  type CommandActions,
  CommandHandler,
  CommandRejected,
} from './command-handler.js';

const log = pino({ level: 'silent' });

function setup(overrides: Partial<CommandActions> = {}) {
  const done: string[] = [];
  const acks: Array<[string, AckStatus, string | undefined]> = [];
  const actions: CommandActions = {
    reboot: async () => void done.push('reboot'),
    restartService: async (service) => void done.push(`restart ${service}`),
    purgeData: async () => {
      throw new CommandRejected('not supported');
    },
    identify: async () => void done.push('identify'),
    resync: async () => void done.push('resync'),
    flushReports: async () => void done.push('flush'),
    ...overrides,
  };
  const handler = new CommandHandler({
    actions,
    log,
    ack: async (id, status, detail) => void acks.push([id, status, detail]),
  });
  return { handler, done, acks };
}

const command = (id: string, type: string, extra: Record<string, unknown> = {}) =>
  Buffer.from(JSON.stringify({ v: 1, id, type, issued_at: '2026-01-01T00:00:00Z', ...extra }));
const signal = new AbortController().signal;

describe('CommandHandler', () => {
  it('acknowledges a reboot before flushing reports and rebooting', async () => {
    const { handler, done, acks } = setup();
    await handler.handle(command('c1', 'reboot'), signal);
    expect(acks).toEqual([['c1', 'accepted', 'rebooting']]);
    expect(done).toEqual(['flush', 'reboot']);
  });

  it('completes restart_service, identify and resync', async () => {
    const { handler, done, acks } = setup();
    await handler.handle(command('c1', 'restart_service', { service: 'web' }), signal);
    await handler.handle(command('c2', 'identify'), signal);
    await handler.handle(command('c3', 'resync'), signal);
    expect(done).toEqual(['restart web', 'identify', 'resync']);
    expect(acks.map(([id, status]) => `${id} ${status}`)).toEqual([
      'c1 completed',
      'c2 completed',
      'c3 completed',
    ]);
  });

  it('rejects what it cannot do and reports failures', async () => {
    const { handler, acks } = setup({
      restartService: async () => {
        throw new Error('engine down');
      },
    });
    await handler.handle(command('c1', 'restart_service'), signal);
    await handler.handle(command('c2', 'purge_data'), signal);
    await handler.handle(command('c3', 'restart_service', { service: 'web' }), signal);
    await handler.handle(command('c4', 'dance'), signal);
    await handler.handle(Buffer.from('not json'), signal);
    expect(acks).toEqual([
      ['c1', 'rejected', 'restart_service needs a service'],
      ['c2', 'rejected', 'not supported'],
      ['c3', 'failed', 'engine down'],
      ['c4', 'rejected', expect.stringContaining('invalid command')],
    ]);
  });

  it('ignores a redelivered command', async () => {
    const { handler, done } = setup();
    await handler.handle(command('c1', 'identify'), signal);
    await handler.handle(command('c1', 'identify'), signal);
    expect(done).toEqual(['identify']);
  });
});
