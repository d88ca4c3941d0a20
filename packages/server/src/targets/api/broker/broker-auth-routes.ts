import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { BrokerRefusal } from '../../../platform/bus/broker-access.js';
import { BrokerAcl } from '../../../platform/bus/broker-acl.js';
import { FlockBrokerAccess } from '../../../platform/bus/flock-broker-access.js';
import {
  sameSecret,
  servicePassword,
  serviceUsername,
} from '../../../platform/bus/service-credential.js';
import { loadSecretKey } from '../../../platform/crypto/load-secret-key.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import type { RouteGroup } from '../build-api.js';
import { brokerActions } from './broker-actions.js';

// Field names are the ones mosquitto-go-auth's HTTP backend sends; EMQX's
// HTTP authenticator and authorizer send whatever body template they are
// given, and docs/mqtt-brokers.md gives them these.
const AuthBody = Type.Object({
  username: Type.String(),
  password: Type.String(),
  clientid: Type.Optional(Type.String()),
});
const SuperuserBody = Type.Object({ username: Type.String() });
const AclBody = Type.Object({
  username: Type.String(),
  clientid: Type.Optional(Type.String()),
  topic: Type.String(),
  /** mosquitto-go-auth: 1 read, 2 write, 3 read and write, 4 subscribe. */
  acc: Type.Optional(Type.Integer()),
  /** EMQX: publish, subscribe or all. */
  action: Type.Optional(Type.String()),
});

/**
 * What an external broker asks Flock through an auth plugin
 * (mosquitto-go-auth's HTTP backend, or EMQX's HTTP authenticator and
 * authorizer): may this client connect, is it a Flock process, may it use this
 * topic. The answers are the embedded broker's, from the same code. A broker
 * proves itself with FLOCK_BROKER_AUTH_SECRET; without one set, the routes
 * answer 404. Allowed: 200; refused: 403 (so a broker that reads only the
 * status refuses too); both with `ok` for mosquitto-go-auth's JSON mode and
 * `result` for EMQX.
 */
export const brokerAuthRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { config, database, deviceTokens } = services;
  const acl = new BrokerAcl(config.mqttTopicPrefix);
  let access: Promise<FlockBrokerAccess> | undefined;
  const brokerAccess = () => {
    access ??= loadSecretKey(config.secretKey, config.dataDir).then(
      (key) =>
        new FlockBrokerAccess({
          devices: deviceTokens,
          db: database.db,
          servicePassword: servicePassword(config.mqttServicePassword, key),
        }),
    );
    return access;
  };
  // Broker plumbing, not part of the public API: kept out of the OpenAPI document.
  const hide = true;

  api.post('/v1/broker/auth', { schema: { hide, body: AuthBody } }, async (request, reply) => {
    checkBroker(request, config.brokerAuthSecret);
    const { username, password, clientid } = request.body;
    try {
      const principal = await (
        await brokerAccess()
      ).authenticate({
        clientId: clientid ?? username,
        username,
        password: Buffer.from(password, 'utf8'),
        inProcess: false,
      });
      return allow(reply, principal.kind === 'service');
    } catch (error) {
      if (!(error instanceof BrokerRefusal) || error.reason === 'server-unavailable') throw error;
      return deny(reply, error.message);
    }
  });

  api.post(
    '/v1/broker/superuser',
    { schema: { hide, body: SuperuserBody } },
    async (request, reply) => {
      checkBroker(request, config.brokerAuthSecret);
      // Only a client that passed /v1/broker/auth as flock-service has this username.
      if (request.body.username === serviceUsername) return allow(reply, true);
      return deny(reply, 'not a Flock process');
    },
  );

  api.post('/v1/broker/acl', { schema: { hide, body: AclBody } }, async (request, reply) => {
    checkBroker(request, config.brokerAuthSecret);
    const { username, topic } = request.body;
    const actions = brokerActions(request.body);
    if (actions === undefined) return deny(reply, 'the question names no action');
    if (username === serviceUsername) return allow(reply, true);
    const registered = await (await brokerAccess()).registeredDevices([username]);
    if (!registered.has(username)) return deny(reply, 'not a registered device');
    const principal = { kind: 'device', deviceId: username, expiresAt: new Date(0) } as const;
    const checks = {
      publish: () => acl.mayPublish(principal, topic),
      subscribe: () => acl.maySubscribe(principal, topic),
      receive: () => acl.mayReceive(principal, topic),
    };
    if (actions.every((action) => checks[action]())) return allow(reply, false);
    return deny(reply, `${actions.join(' and ')} on ${topic} is not allowed`);
  });
};

function checkBroker(request: FastifyRequest, secret: string | undefined): void {
  if (secret === undefined) throw new HttpProblem('not_found', 'broker authentication is off');
  const header = request.headers.authorization ?? '';
  const [scheme = '', value = ''] = header.split(' ', 2);
  let given = '';
  if (scheme.toLowerCase() === 'bearer') given = value;
  if (scheme.toLowerCase() === 'basic') {
    // mosquitto-go-auth sends no custom headers; a user:secret@ in its
    // http_host makes Go's HTTP client send Basic credentials instead.
    const decoded = Buffer.from(value, 'base64').toString('utf8');
    given = decoded.slice(decoded.indexOf(':') + 1);
  }
  if (given === '' || !sameSecret(given, secret)) {
    throw new HttpProblem('unauthenticated', 'the broker secret is missing or wrong', undefined, {
      'www-authenticate': 'Bearer',
    });
  }
}

function allow(reply: FastifyReply, superuser: boolean) {
  return reply.code(200).send({ ok: true, result: 'allow', is_superuser: superuser });
}

function deny(reply: FastifyReply, error: string) {
  return reply.code(403).send({ ok: false, result: 'deny', error });
}
