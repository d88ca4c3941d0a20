import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import {
  DeviceTokenRequest,
  DeviceTokenResponse,
  RegisterDeviceRequest,
  RegisterDeviceResponse,
} from '@flock/protocol';
import {
  hashToken,
  issueToken,
  tokenMatches,
  tokenPrefix,
} from '../../../platform/auth/secret-token.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { limitPerAddress, RateLimiter } from '../../../platform/http/rate-limiter.js';
import type { RouteGroup } from '../build-api.js';
import { registerDevice } from './register-device.js';

/** Compared against when the device is unknown, so both failures take the same time. */
const absentSecretHash = hashToken(issueToken('deviceSecret').token);

/**
 * What devices call without a token of their own: registration with a
 * provisioning key, exchanging the device secret for a token, and the public
 * keys that verify device tokens. Each is rate limited per address and per
 * credential (docs/decisions/0121-rate-limits-per-process.md).
 */
export const deviceRegistrationRoutes: RouteGroup = (app, services) => {
  const api = app.withTypeProvider<TypeBoxTypeProvider>();
  const { config, database, deviceTokens, now } = services;
  const registerPerAddress = new RateLimiter(
    { what: 'registrations from this address', perMinute: config.rateLimitRegisterPerMinute },
    now,
  );
  const registerPerKey = new RateLimiter(
    {
      what: 'registrations with this provisioning key',
      perMinute: config.rateLimitRegisterPerKeyPerMinute,
    },
    now,
  );
  const tokenPerAddress = new RateLimiter(
    { what: 'token requests from this address', perMinute: config.rateLimitDeviceTokenPerMinute },
    now,
  );
  const tokenPerDevice = new RateLimiter(
    {
      what: 'token requests for this device',
      perMinute: config.rateLimitDeviceTokenPerDevicePerMinute,
    },
    now,
  );

  api.post(
    '/v1/devices/register',
    {
      schema: {
        body: RegisterDeviceRequest,
        response: { 200: RegisterDeviceResponse, 201: RegisterDeviceResponse },
      },
      onRequest: limitPerAddress(registerPerAddress),
      preHandler: async (request) => {
        const prefix = tokenPrefix('provisioningKey', request.body.provisioning_key);
        if (prefix !== undefined) registerPerKey.take(prefix);
      },
    },
    async (request, reply) => {
      const registration = await registerDevice(services, request, request.body);
      const issued = await deviceTokens.sign({
        id: registration.deviceId,
        orgId: registration.orgId,
        fleetId: registration.fleetId,
      });
      return reply.code(registration.reregistered ? 200 : 201).send({
        device_id: registration.deviceId,
        org_id: registration.orgId,
        fleet_id: registration.fleetId,
        token: issued.token,
        token_expires_at: issued.expiresAt.toISOString(),
        device_secret: registration.deviceSecret,
        topic_prefix: config.mqttTopicPrefix,
      });
    },
  );

  api.post(
    '/v1/devices/token',
    {
      schema: { body: DeviceTokenRequest, response: { 200: DeviceTokenResponse } },
      onRequest: limitPerAddress(tokenPerAddress),
      preHandler: async (request) => tokenPerDevice.take(request.body.device_id.toLowerCase()),
    },
    async (request) => {
      const { device_id: deviceId, device_secret: secret } = request.body;
      const device = await database.db
        .selectFrom('devices')
        .select(['id', 'org_id', 'fleet_id', 'secret_hash'])
        .where('id', '=', deviceId.toLowerCase())
        .executeTakeFirst();
      const matches = tokenMatches(secret, device?.secret_hash ?? absentSecretHash);
      if (device === undefined || !matches || tokenPrefix('deviceSecret', secret) === undefined) {
        throw new HttpProblem('unauthenticated', 'unknown device or wrong device secret');
      }
      const issued = await deviceTokens.sign({
        id: device.id,
        orgId: device.org_id,
        fleetId: device.fleet_id,
      });
      return {
        token: issued.token,
        expires_at: issued.expiresAt.toISOString(),
        topic_prefix: config.mqttTopicPrefix,
      };
    },
  );

  // Verifiers cache the set; five minutes is short next to the grace a
  // retired key keeps (a token lifetime), and jose refetches on an unknown kid.
  app.get('/.well-known/jwks.json', async (_request, reply) =>
    reply.header('cache-control', 'public, max-age=300').send(await deviceTokens.jwks()),
  );
};
