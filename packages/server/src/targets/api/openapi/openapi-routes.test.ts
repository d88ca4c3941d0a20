import { readFile } from 'node:fs/promises';
import { Problem } from '@flock/protocol';
import { Value } from '@sinclair/typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestApi, type TestApi } from '../../../../test/support/api-harness.js';
import { routeGroups } from '../route-groups.js';

const committedPath = new URL('../../../../../../docs/openapi.json', import.meta.url);

interface Document {
  paths: Record<string, Record<string, { 'x-flock-access': string; responses: object }>>;
}

/** Every `$ref` in `value`, with where it was found. */
function refs(value: unknown, at = '#'): [string, string][] {
  if (typeof value !== 'object' || value === null) return [];
  return Object.entries(value).flatMap(([key, child]): [string, string][] =>
    key === '$ref' && typeof child === 'string' ? [[child, at]] : refs(child, `${at}/${key}`),
  );
}

function resolve(document: unknown, pointer: string): unknown {
  return pointer
    .slice(2)
    .split('/')
    .reduce<unknown>(
      (node, part) =>
        typeof node === 'object' && node !== null
          ? (node as Record<string, unknown>)[part.replaceAll('~1', '/').replaceAll('~0', '~')]
          : undefined,
      document,
    );
}

// The document does not depend on the database, so one backend is enough.
describe('the OpenAPI document of the whole API', () => {
  let api: TestApi;
  let served: Document;

  beforeAll(async () => {
    api = await startTestApi({ backend: 'pglite', routes: routeGroups });
    const response = await api.app.inject({ method: 'GET', url: '/v1/openapi.json' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('application/json');
    served = response.json();
    // Every route group on a fresh PGlite: slow when the whole suite runs at once.
  }, 180_000);
  afterAll(async () => api?.close());

  it('is what docs/openapi.json holds', async () => {
    const committed: unknown = JSON.parse(await readFile(committedPath, 'utf8'));
    expect(
      served,
      'docs/openapi.json differs from what the server serves: run `npm run openapi` and commit it',
    ).toEqual(committed);
  });

  it('documents every route the API registered, each with an access rule', () => {
    const documented = new Set(
      Object.entries(served.paths).flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    );
    const registered = api.services.routes
      .filter((route) => route.method !== 'HEAD' && route.schema?.hide !== true)
      .map((route) => `${route.method} ${route.url.replace(/:(\w+)/g, '{$1}')}`);
    expect([...documented].sort()).toEqual([...new Set(registered)].sort());
    for (const [path, item] of Object.entries(served.paths)) {
      for (const [method, operation] of Object.entries(item)) {
        expect(operation['x-flock-access'], `${method} ${path}`).not.toBe('none');
      }
    }
  });

  it('resolves every reference', () => {
    const dangling = refs(served).filter(([ref]) => resolve(served, ref) === undefined);
    expect(dangling).toEqual([]);
  });

  it('answers errors with bodies that match the documented Problem schema', async () => {
    const responses = [
      await api.app.inject({ method: 'GET', url: '/v1/nowhere' }),
      await api.app.inject({ method: 'GET', url: '/v1/me' }),
      await api.app.inject({ method: 'POST', url: '/v1/devices/token', payload: { x: 1 } }),
    ];
    for (const response of responses) {
      expect(response.statusCode).toBeGreaterThanOrEqual(400);
      expect([...Value.Errors(Problem, response.json())], response.body).toEqual([]);
    }
  });

  it('serves Swagger UI from local files only', async () => {
    const page = await api.app.inject({ method: 'GET', url: '/v1/docs/' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');
    expect(page.headers['content-security-policy']).toContain("script-src 'self'");
    expect(page.body).not.toMatch(/(src|href)="(https?:)?\/\//);
    const assets = [...page.body.matchAll(/(?:src|href)="\.\/([^"]+)"/g)].map((m) => m[1]);
    expect(assets).toContain('static/swagger-ui-bundle.js');
    for (const asset of assets) {
      const response = await api.app.inject({ method: 'GET', url: `/v1/docs/${asset}` });
      expect(response.statusCode, asset).toBe(200);
    }
    const copy = await api.app.inject({ method: 'GET', url: '/v1/docs/json' });
    expect(copy.json()).toEqual(served);
  });
});
