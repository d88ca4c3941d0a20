import type { IncomingHttpHeaders } from 'node:http';
import fastifyWebsocket from '@fastify/websocket';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  EventStreamQuery,
  eventStreamCloseCodes,
  eventStreamProtocol,
  OrgEventStreamQuery,
  Uuid,
} from '@flock/protocol';
import type { FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { Type } from '@sinclair/typebox';
import { HttpProblem } from '../../../platform/http/problem.js';
import { actingOrg } from '../acting-org.js';
import type { RouteGroup } from '../build-api.js';
import { EventStreamHub } from './event-stream-hub.js';
import { EventStreamMetrics } from './event-stream-metrics.js';
import { EventStreamSession } from './event-stream-session.js';
import { streamOrg } from './stream-org.js';

const OrgParams = Type.Object({ orgId: Type.String() });

/** Messages a client may send are ignored; this bounds what one may cost. */
const maxClientMessageBytes = 4096;

function isUpgrade(headers: IncomingHttpHeaders): boolean {
  return (
    headers.upgrade?.toLowerCase() === 'websocket' && /\bupgrade\b/i.test(headers.connection ?? '')
  );
}

const uuidPattern = new RegExp(Uuid.pattern ?? '^$');

/** The Last-Event-ID header, refused before the upgrade when it cannot be an event id. */
function lastEventId(header: string | string[] | undefined): string | undefined {
  if (typeof header !== 'string' || header.trim() === '') return undefined;
  if (!uuidPattern.test(header.trim())) {
    throw new HttpProblem('validation_failed', 'Last-Event-ID is not an event id', [
      { field: '/headers/last-event-id', message: 'must be the id of an event of this stream' },
    ]);
  }
  return header.trim();
}

/**
 * The org's public events over a WebSocket (docs/events.md, "WebSocket
 * stream"): live as the events gateway publishes them, after a replay from
 * the events table when the client resumes with `after`. Authentication,
 * the org and the role are checked on the upgrade request like on any
 * route, so a refused client gets an HTTP status, not a socket.
 */
export const eventStreamRoutes: RouteGroup = (app, services) => {
  const hub = new EventStreamHub(services.bus, services.log);
  const metrics = new EventStreamMetrics(services.metrics);
  const { config } = services;

  void app.register(fastifyWebsocket, {
    options: {
      maxPayload: maxClientMessageBytes,
      // Select the stream's protocol, never the bearer token a browser offers beside it.
      handleProtocols: (offered) =>
        offered.has(eventStreamProtocol) ? eventStreamProtocol : false,
    },
    preClose(done) {
      for (const client of this.websocketServer.clients) {
        client.close(1001, 'the server is shutting down; reconnect with after');
      }
      done();
    },
  });

  // A refused upgrade is answered over HTTP on a socket Node's HTTP server no
  // longer reads: close it, or it stays half-open and blocks the server's close.
  app.addHook('onResponse', async (request) => {
    if (isUpgrade(request.headers)) request.raw.socket.destroy();
  });

  const description =
    'Upgrade to a WebSocket (subprotocol `flock.events.v1`); each text message is one ' +
    'event envelope, as a webhook body. Authenticate with the Authorization header, or ' +
    'from a browser by offering `flock.bearer.<token>` as a second subprotocol. Filter ' +
    'with `types` (comma-separated, wildcards as in subscriptions), `fleet_id`, ' +
    '`device_id`. Resume with `after` (or Last-Event-ID) set to the last event id ' +
    `received: the events since are replayed in order, then the stream goes live. An id ` +
    `unknown or older than the retention window closes the socket with ` +
    `${eventStreamCloseCodes.resumeUnavailable}; a client that reads too slowly is closed ` +
    `with ${eventStreamCloseCodes.tooSlow} and should resume. The server pings every ` +
    `${config.eventStreamPingSeconds} s.`;
  const checkLastEventId = async (request: FastifyRequest): Promise<void> => {
    lastEventId(request.headers['last-event-id']);
  };
  const notAnUpgrade = async (): Promise<never> => {
    throw new HttpProblem('validation_failed', 'this route only answers WebSocket upgrades', [
      { field: '/headers/upgrade', message: 'must be websocket' },
    ]);
  };
  const stream = (socket: WebSocket, request: FastifyRequest, query: EventStreamQuery) =>
    new EventStreamSession(socket, {
      db: services.database.db,
      hub,
      metrics,
      log: request.log,
      orgId: actingOrg(request),
      filter: {
        types: query.types?.split(','),
        fleetId: query.fleet_id?.toLowerCase(),
        deviceId: query.device_id?.toLowerCase(),
      },
      after: (query.after ?? lastEventId(request.headers['last-event-id']))?.toLowerCase(),
      retentionMs: config.eventsRetentionHours * 3_600_000,
      pingMs: config.eventStreamPingSeconds * 1000,
      now: services.now,
    }).run();

  void app.register(async (scoped) => {
    const api = scoped.withTypeProvider<TypeBoxTypeProvider>();
    api.route({
      method: 'GET',
      url: '/v1/orgs/:orgId/events/stream',
      schema: {
        summary: 'Stream the org’s events over a WebSocket',
        description,
        params: OrgParams,
        querystring: EventStreamQuery,
      },
      preValidation: checkLastEventId,
      handler: notAnUpgrade,
      wsHandler: (socket, request) => stream(socket, request, request.query),
    });

    api.route({
      method: 'GET',
      url: '/v1/events/stream',
      schema: {
        summary: 'Stream the events of the caller’s org over a WebSocket',
        description:
          'As `/v1/orgs/{orgId}/events/stream`, in the org of the API key, or for a person ' +
          `the org named by \`org_id\`. ${description}`,
        querystring: OrgEventStreamQuery,
      },
      preValidation: checkLastEventId,
      // Before the upgrade, so a refusal is an HTTP status.
      preHandler: async (request) => {
        const { orgId, role } = await streamOrg(
          services.database.db,
          request,
          request.query.org_id,
        );
        request.auth = { ...request.auth, orgId, role };
      },
      handler: notAnUpgrade,
      wsHandler: (socket, request) => stream(socket, request, request.query),
    });
  });
};
