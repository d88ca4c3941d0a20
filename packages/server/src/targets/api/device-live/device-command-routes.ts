import { randomUUID } from 'node:crypto';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  type CommandMessage,
  type CommandType,
  DeviceCommand,
  SendDeviceCommand,
  deviceTopic,
} from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import type { Selectable } from 'kysely';
import { actorRef } from '../../../platform/auth/actor.js';
import type { Subscription } from '../../../platform/bus/bus.js';
import type { DeviceCommandsTable } from '../../../platform/db/schema.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import { auditedTransaction } from '../audited-transaction.js';
import type { RouteGroup } from '../build-api.js';
import { subscribeCommandAcks } from './apply-command-acks.js';

const DeviceParams = Type.Object({ deviceId: Type.String() });
const CommandParams = Type.Object({ deviceId: Type.String(), commandId: Type.String() });
const Accepted = Type.Object({ id: Type.String(), status: Type.Literal('sent') });

const forService: readonly CommandType[] = ['restart_service', 'purge_data'];

function commandView(row: Selectable<DeviceCommandsTable>): DeviceCommand {
  return {
    id: row.id,
    device_id: row.device_id,
    type: row.type as CommandType,
    service: row.service,
    issued_by: { type: row.issued_by_type, id: row.issued_by_id },
    issued_at: row.issued_at.toISOString(),
    status: row.status,
    acked_at: row.acked_at?.toISOString() ?? null,
    detail: row.detail,
  };
}

const commandNotFound = () => new HttpProblem('not_found', 'no such command');

/** One-off commands to a device and their outcome as the device acknowledges it. */
export const deviceCommandRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const db = services.database.db;

  let acks: Subscription | undefined;
  app.addHook('onReady', async () => {
    acks = await subscribeCommandAcks({ bus: services.bus, db, log: services.log });
  });
  app.addHook('onClose', async () => {
    await acks?.unsubscribe();
  });

  api.post(
    '/v1/devices/:deviceId/commands',
    {
      schema: {
        summary: 'Send a command to a device',
        description:
          'Published once (QoS 1, not retained) on the device’s command topic. An offline ' +
          'device gets it on reconnecting only if its broker session persisted; otherwise it ' +
          'stays `sent`. `service` is required for restart_service and purge_data.',
        tags: ['devices'],
        params: DeviceParams,
        body: SendDeviceCommand,
        response: { 202: Accepted },
      },
    },
    async (request, reply) => {
      const { deviceId } = request.params;
      const { type, service } = request.body;
      if (forService.includes(type) !== (service !== undefined)) {
        throw new HttpProblem('validation_failed', 'service does not fit the command', [
          {
            field: '/body/service',
            message: forService.includes(type)
              ? `is required for ${type}`
              : `is not allowed for ${type}`,
          },
        ]);
      }
      const id = randomUUID();
      const issuedAt = services.now();
      const issuedBy = actorRef(request.auth.actor);
      await auditedTransaction(services, request, async (tx, audit) => {
        await tx
          .insertInto('device_commands')
          .values({
            id,
            org_id: actingOrg(request),
            device_id: deviceId,
            type,
            service: service ?? null,
            issued_by_type: issuedBy.type,
            issued_by_id: issuedBy.id,
            issued_at: issuedAt,
            status: 'sent',
          })
          .execute();
        await audit({
          action: 'device.command_sent',
          resourceType: 'device',
          resourceId: deviceId,
          summary: { command_id: id, type, ...(service === undefined ? {} : { service }) },
        });
      });
      // Published after the commit, so an ack can never arrive for a command
      // that is not stored yet.
      const message: CommandMessage = {
        v: 1,
        id,
        type,
        ...(service === undefined ? {} : { service }),
        issued_at: issuedAt.toISOString(),
      };
      try {
        await services.bus.publish(deviceTopic(deviceId, 'commands'), JSON.stringify(message), {
          qos: 1,
          retain: false,
        });
      } catch (error) {
        await db
          .updateTable('device_commands')
          .set({ status: 'failed', detail: 'the message bus did not take the command' })
          .where('id', '=', id)
          .execute();
        throw new HttpProblem(
          'not_ready',
          'the message bus did not take the command; retry',
          undefined,
          undefined,
          {
            cause: error,
          },
        );
      }
      return reply.code(202).send({ id, status: 'sent' as const });
    },
  );

  api.get(
    '/v1/devices/:deviceId/commands/:commandId',
    {
      schema: {
        summary: 'Get a device command',
        description: 'Its status: sent, then what the device acknowledged.',
        tags: ['devices'],
        params: CommandParams,
        response: { 200: DeviceCommand },
      },
    },
    async (request): Promise<DeviceCommand> => {
      const { deviceId, commandId } = request.params;
      if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(commandId))
        throw commandNotFound();
      const row = await db
        .selectFrom('device_commands')
        .selectAll()
        .where('id', '=', commandId)
        .where('device_id', '=', deviceId)
        .where('org_id', '=', actingOrg(request))
        .executeTakeFirst();
      if (row === undefined) throw commandNotFound();
      return commandView(row);
    },
  );
};
