import type { FastifyInstance, FastifySchema } from 'fastify';

export interface CatalogedRoute {
  method: string;
  url: string;
  schema: FastifySchema | undefined;
}

/** The routes registered on an app, in registration order; filled as they are registered. */
export type RouteCatalog = readonly CatalogedRoute[];

/**
 * Records every route registered on `app` from now on. Fastify has no public
 * list of routes with their schemas, so the OpenAPI document is built from
 * what this sees.
 */
export function recordRoutes(app: FastifyInstance): RouteCatalog {
  const routes: CatalogedRoute[] = [];
  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    for (const method of methods) {
      routes.push({ method: String(method), url: route.url, schema: route.schema });
    }
  });
  return routes;
}
