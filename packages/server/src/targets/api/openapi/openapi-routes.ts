import fastifySwagger from '@fastify/swagger';
import fastifySwaggerUi from '@fastify/swagger-ui';
import * as protocol from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { version } from '../../../app/version.js';
import { accessRules } from '../access-rules.js';
import type { RouteGroup } from '../build-api.js';
import { buildOpenApiDocument } from './openapi-document.js';
import { namedSchemas, type JsonObject } from './openapi-schemas.js';

export const openApiPath = '/v1/openapi.json';
export const docsPath = '/v1/docs';

// Swagger UI's scripts and styles are files of this server; nothing is fetched elsewhere.
const contentSecurityPolicy = [
  "default-src 'self'",
  "img-src 'self' data:",
  "style-src 'self' 'unsafe-inline'",
  "script-src 'self'",
  "object-src 'none'",
  "base-uri 'self'",
  "frame-ancestors 'self'",
].join('; ');

/**
 * The API's OpenAPI 3.1 document, built from the schemas of the routes the
 * app registered and their access rules, and Swagger UI to read it
 * (docs/decisions/0242-openapi-from-route-schemas.md).
 */
export const openApiRoutes: RouteGroup = (app, services) => {
  let document: JsonObject | undefined;
  let json = '';
  // Plugins register their routes while the app loads: the document is
  // complete only once it is ready.
  app.addHook('onReady', async () => {
    document = buildOpenApiDocument({
      routes: services.routes,
      rules: accessRules,
      named: namedSchemas(protocol),
      version,
    });
    json = JSON.stringify(document);
  });

  app.get(
    openApiPath,
    {
      schema: {
        summary: 'This document',
        tags: ['docs'],
        operationId: 'getOpenApiDocument',
        response: {
          200: Type.Object({}, { additionalProperties: true, description: 'OpenAPI 3.1' }),
        },
      },
    },
    async (_request, reply) => reply.type('application/json; charset=utf-8').send(json),
  );

  // Static mode wants a document when it registers; Swagger UI asks for the
  // real one through transformSpecification, after the app is ready.
  void app.register(fastifySwagger, {
    mode: 'static',
    specification: {
      document: { openapi: '3.1.0', info: { title: 'Flock API', version }, paths: {} },
    },
  });
  void app.register(fastifySwaggerUi, {
    routePrefix: docsPath,
    staticCSP: contentSecurityPolicy,
    theme: { title: 'Flock API' },
    uiConfig: { deepLinking: true, validatorUrl: null },
    transformSpecification: () => document ?? {},
  });
};
