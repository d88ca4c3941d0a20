import { CreateVariableRequest, Problem, Variable, VariableList } from '@flock/protocol';
import { Type } from '@sinclair/typebox';
import { describe, expect, it } from 'vitest';
import type { AccessRule } from '../../../platform/auth/access-rule.js';
import { buildOpenApiDocument } from './openapi-document.js';
import { tagOf } from './openapi-operation.js';
import { namedSchemas } from './openapi-schemas.js';
import type { CatalogedRoute } from './route-catalog.js';

const named = namedSchemas({ CreateVariableRequest, Problem, Variable, VariableList, tagOf });
const developer: AccessRule = {
  access: 'org',
  role: 'developer',
  org: { param: 'fleetId', table: 'fleets' },
};
const Params = Type.Object({ fleetId: Type.String() });

function documentOf(routes: CatalogedRoute[], rules: Record<string, AccessRule> = {}) {
  const doc = buildOpenApiDocument({ routes, rules, named, version: '9.9.9' });
  return JSON.parse(JSON.stringify(doc)) as {
    openapi: string;
    info: { version: string };
    tags: { name: string }[];
    paths: Record<string, Record<string, Record<string, unknown>>>;
    components: { schemas: Record<string, unknown> };
  };
}

describe('buildOpenApiDocument', () => {
  it('describes a route from its schema and access rule, naming shared schemas', () => {
    const doc = documentOf(
      [
        {
          method: 'POST',
          url: '/v1/fleets/:fleetId/variables',
          schema: { params: Params, body: CreateVariableRequest, response: { 201: Variable } },
        },
      ],
      { 'POST /v1/fleets/:fleetId/variables': developer },
    );
    expect(doc.openapi).toBe('3.1.0');
    expect(doc.info.version).toBe('9.9.9');
    const operation = doc.paths['/v1/fleets/{fleetId}/variables']?.post;
    expect(operation).toMatchObject({
      operationId: 'postFleetsVariables',
      tags: ['variables'],
      security: [{ user_token: [] }, { api_key: [] }],
      'x-flock-access': 'org:developer',
      parameters: [
        { name: 'fleetId', in: 'path', required: true, schema: { type: 'string' } },
        { $ref: '#/components/parameters/IdempotencyKey' },
      ],
      requestBody: {
        required: true,
        content: {
          'application/json': { schema: { $ref: '#/components/schemas/CreateVariableRequest' } },
        },
      },
    });
    const responses = operation?.responses as Record<string, unknown>;
    expect(responses['201']).toEqual({
      description: 'Created',
      content: { 'application/json': { schema: { $ref: '#/components/schemas/Variable' } } },
    });
    for (const status of ['400', '401', '403', '404', '409', 'default']) {
      expect(responses[status], status).toMatchObject({ $ref: '#/components/responses/Problem' });
    }
    // Only what is referenced, with symbols (TypeBox's markers) gone.
    expect(Object.keys(doc.components.schemas).sort()).toEqual([
      'CreateVariableRequest',
      'Problem',
      'Variable',
    ]);
  });

  it('copes with routes that declare nothing, and skips hidden and HEAD routes', () => {
    const doc = documentOf([
      { method: 'DELETE', url: '/v1/things/:thingId', schema: undefined },
      { method: 'HEAD', url: '/v1/things/:thingId', schema: undefined },
      { method: 'GET', url: '/v1/docs/json', schema: { hide: true } },
      { method: 'GET', url: '/v1/public', schema: {} },
    ]);
    expect(Object.keys(doc.paths)).toEqual(['/v1/public', '/v1/things/{thingId}']);
    const removal = doc.paths['/v1/things/{thingId}']?.delete;
    expect(removal?.parameters).toEqual([
      { name: 'thingId', in: 'path', required: true, schema: { type: 'string' } },
    ]);
    expect(Object.keys(removal?.responses as object)).toContain('2XX');
    // No access rule: the route is refused at runtime, and the document says so.
    expect(removal?.['x-flock-access']).toBe('none');
  });

  it('references nested named schemas and keeps operation ids unique', () => {
    const doc = documentOf([
      { method: 'GET', url: '/v1/a/b', schema: { response: { 200: VariableList } } },
      { method: 'GET', url: '/v1/a/:x/b', schema: { response: { 200: VariableList } } },
    ]);
    expect(doc.components.schemas.VariableList).toMatchObject({
      properties: { items: { type: 'array', items: { $ref: '#/components/schemas/Variable' } } },
    });
    const ids = Object.values(doc.paths).map((item) => item.get?.operationId);
    expect(new Set(ids).size).toBe(2);
  });

  it('tags a route by the collection it is about', () => {
    expect(tagOf('/v1/orgs/:orgId/fleets')).toBe('fleets');
    expect(tagOf('/v1/fleets/:fleetId')).toBe('fleets');
    expect(tagOf('/v1/releases/:releaseId/archive')).toBe('releases');
    expect(tagOf('/v1/devices/register')).toBe('devices');
    expect(tagOf('/v1/me')).toBe('me');
    expect(tagOf('/.well-known/jwks.json')).toBe('well-known');
  });
});
