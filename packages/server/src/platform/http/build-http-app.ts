import { randomUUID } from 'node:crypto';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyError,
  type FastifyInstance,
} from 'fastify';
import { problemContentType, type FieldError } from '@flock/protocol';
import { Histogram } from 'prom-client';
import type { ReadinessReport } from '../../app/module.js';
import type { Logger } from '../log/create-logger.js';
import type { Registry } from '../metrics/create-metrics.js';
import { HttpProblem, problemBody } from './problem.js';

export interface HttpAppOptions {
  log: Logger;
  metrics: Registry;
  readiness: () => Promise<ReadinessReport>;
}

const requestIdPattern = /^[\w.:-]{1,128}$/;

/** Fastify names the query string `querystring`; our field pointers say `query`. */
const partNames: Record<string, string> = { querystring: 'query' };

function fieldErrors(error: FastifyError): FieldError[] {
  const context = error.validationContext ?? 'body';
  return (error.validation ?? []).map((issue) => {
    const { missingProperty, additionalProperty } = issue.params as Record<string, unknown>;
    const named =
      issue.keyword === 'required' && typeof missingProperty === 'string'
        ? `/${missingProperty}`
        : issue.keyword === 'additionalProperties' && typeof additionalProperty === 'string'
          ? `/${additionalProperty}`
          : '';
    return {
      field: `/${partNames[context] ?? context}${issue.instancePath}${named}`,
      message:
        issue.keyword === 'additionalProperties'
          ? 'is not a field of this request'
          : (issue.message ?? 'is invalid'),
    };
  });
}

/** The HTTP application without listening: tests drive it with inject(). */
export function buildHttpApp(options: HttpAppOptions): FastifyInstance {
  const app: FastifyInstance = Fastify({
    loggerInstance: options.log as FastifyBaseLogger,
    logController: new LogController({ disableRequestLogging: true }),
    requestIdHeader: false,
    genReqId: (request) => {
      const given = request.headers['x-request-id'];
      return typeof given === 'string' && requestIdPattern.test(given) ? given : randomUUID();
    },
    forceCloseConnections: 'idle',
    return503OnClosing: true,
    ajv: { customOptions: { allErrors: true, removeAdditional: false, coerceTypes: 'array' } },
  });

  const duration = new Histogram({
    name: 'flock_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [options.metrics],
  });

  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info(
      {
        method: request.method,
        url: request.url,
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
    duration.observe(
      {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  app.setNotFoundHandler(async (request, reply) => {
    const body = problemBody(
      'not_found',
      `no route ${request.method} ${request.url}`,
      request.id,
      request.url,
    );
    return reply.code(404).type(problemContentType).send(body);
  });

  app.setErrorHandler(async (error: FastifyError | HttpProblem, request, reply) => {
    if (error instanceof HttpProblem) {
      if (error.headers) void reply.headers(error.headers);
      return reply
        .code(error.status)
        .type(problemContentType)
        .send(problemBody(error.code, error.message, request.id, request.url, error.errors));
    }
    if (error.validation) {
      return reply
        .code(400)
        .type(problemContentType)
        .send(
          problemBody(
            'validation_failed',
            'request does not match its schema',
            request.id,
            request.url,
            fieldErrors(error),
          ),
        );
    }
    const status = error.statusCode ?? 500;
    if (status >= 500) {
      request.log.error({ err: error }, 'request failed');
      return reply
        .code(500)
        .type(problemContentType)
        .send(
          problemBody(
            'internal',
            'unexpected error; report the request id',
            request.id,
            request.url,
          ),
        );
    }
    const code =
      status === 413
        ? 'payload_too_large'
        : status === 415
          ? 'unsupported_media_type'
          : 'validation_failed';
    return reply
      .code(status)
      .type(problemContentType)
      .send(problemBody(code, error.message, request.id, request.url));
  });

  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async (_request, reply) => {
    const report = await options.readiness();
    return reply.code(report.ready ? 200 : 503).send(report);
  });

  app.get('/metrics', async (_request, reply) => {
    return reply.type(options.metrics.contentType).send(await options.metrics.metrics());
  });

  return app;
}
