import { type ErrorCode, errorCodes } from '@flock/protocol';
import type { FastifySchema } from 'fastify';
import type { AccessRule } from '../../../platform/auth/access-rule.js';
import type { CatalogedRoute } from './route-catalog.js';
import type { Json, JsonObject, SchemaConverter } from './openapi-schemas.js';

const reasons: Record<string, string> = { '200': 'OK', '201': 'Created', '202': 'Accepted' };

function security(rule: AccessRule | undefined): { security?: Json; access: string } {
  switch (rule?.access) {
    case undefined:
      return { access: 'Refused: this route has no access rule.' };
    case 'public':
      return { security: [], access: 'Public: no credential.' };
    case 'authenticated':
      return {
        security: [{ user_token: [] }, { api_key: [] }],
        access: 'Any person or API key; shows only what the caller may see.',
      };
    case 'user':
      return { security: [{ user_token: [] }], access: 'People only, not API keys.' };
    case 'device':
      return { security: [{ device_token: [] }], access: 'The device itself.' };
    case 'org':
      return {
        security: [{ user_token: [] }, { api_key: [] }],
        access: `The ${rule.role} role or higher in the org that owns the resource.`,
      };
  }
}

function segments(url: string): string[] {
  return url.split('/').filter((part) => part !== '' && part !== 'v1');
}

const isParam = (segment: string): boolean => segment.startsWith(':') || segment === '*';

/**
 * The resource a path is about, when its route names no tags: the last
 * collection (a plural) in it, else its first word. `/v1/orgs/:orgId/fleets`
 * → fleets, `/v1/releases/:id/archive` → releases, `/v1/me` → me.
 */
export function tagOf(url: string): string {
  const words = segments(url)
    .filter((part) => !isParam(part))
    .map((part) => part.replace(/^\.+/, ''));
  return words.findLast((word) => /s$/.test(word)) ?? words[0] ?? 'api';
}

function derivedOperationId(method: string, url: string): string {
  const words = segments(url)
    .filter((part) => !isParam(part))
    .flatMap((part) => part.split(/[^A-Za-z0-9]+/))
    .filter((word) => word !== '')
    .map((word) => word[0]!.toUpperCase() + word.slice(1));
  const byId = isParam(segments(url).at(-1) ?? '') ? 'ById' : '';
  return `${method.toLowerCase()}${words.join('')}${byId}`;
}

export function openApiPath(url: string): string {
  return url.replace(/:(\w+)(\([^)]*\))?/g, '{$1}').replace(/\*$/, '{wildcard}');
}

function objectProperties(schema: unknown): {
  properties: Record<string, unknown>;
  required: string[];
} {
  if (typeof schema !== 'object' || schema === null) return { properties: {}, required: [] };
  const { properties, required } = schema as { properties?: unknown; required?: unknown };
  return {
    properties:
      typeof properties === 'object' && properties !== null
        ? (properties as Record<string, unknown>)
        : {},
    required: Array.isArray(required) ? required.filter((name) => typeof name === 'string') : [],
  };
}

function parameters(route: CatalogedRoute, converter: SchemaConverter): Json[] {
  const schema: FastifySchema = route.schema ?? {};
  const out: Json[] = [];
  const pathParams = objectProperties(schema.params).properties;
  for (const segment of segments(route.url).filter(isParam)) {
    const name = segment === '*' ? 'wildcard' : segment.slice(1).replace(/\(.*$/, '');
    out.push({
      name,
      in: 'path',
      required: true,
      schema: converter.convert(pathParams[name] ?? { type: 'string' }),
    });
  }
  for (const [part, where] of [
    [schema.querystring, 'query'],
    [schema.headers, 'header'],
  ] as const) {
    const { properties, required } = objectProperties(part);
    for (const [name, property] of Object.entries(properties)) {
      const text = (property as { description?: unknown }).description;
      out.push({
        name,
        in: where,
        required: required.includes(name),
        ...(typeof text === 'string' ? { description: text } : {}),
        schema: converter.convert(property),
      });
    }
  }
  if (route.method === 'POST') out.push({ $ref: '#/components/parameters/IdempotencyKey' });
  return out;
}

/** Fastify accepts a schema, or `{ content: { <type>: { schema } } }`, for bodies and responses. */
function content(schema: unknown, converter: SchemaConverter): Json {
  const byType = (schema as { content?: unknown }).content;
  if (typeof byType === 'object' && byType !== null && !('type' in (schema as object))) {
    return Object.fromEntries(
      Object.entries(byType).map(([type, entry]) => [
        type,
        { schema: converter.convert((entry as { schema?: unknown }).schema ?? {}) },
      ]),
    );
  }
  return { 'application/json': { schema: converter.convert(schema) } };
}

function responses(
  route: CatalogedRoute,
  rule: AccessRule | undefined,
  converter: SchemaConverter,
): JsonObject {
  const out: JsonObject = {};
  const declared = (route.schema?.response ?? {}) as Record<string, unknown>;
  for (const [status, schema] of Object.entries(declared)) {
    const code = status.replace(/xx$/i, 'XX');
    const text = (schema as { description?: unknown }).description;
    const empty = code === '204' || (schema as { type?: unknown }).type === 'null';
    out[code] = {
      description: typeof text === 'string' ? text : (reasons[code] ?? 'Success'),
      ...(empty ? {} : { content: content(schema, converter) }),
    };
  }
  if (Object.keys(out).length === 0)
    out['2XX'] = { description: 'Success (the response is not described yet)' };
  const errors: ErrorCode[] = [];
  const schema = route.schema ?? {};
  const hasParams = segments(route.url).some(isParam);
  if (
    schema.body !== undefined ||
    schema.querystring !== undefined ||
    hasParams ||
    route.method === 'POST'
  )
    errors.push('validation_failed');
  if (rule !== undefined && rule.access !== 'public') errors.push('unauthenticated', 'forbidden');
  if (hasParams || rule?.access === 'org') errors.push('not_found');
  if (route.method === 'POST') errors.push('conflict');
  if ('if-match' in objectProperties(schema.headers).properties) errors.push('precondition_failed');
  for (const code of errors) {
    out[String(errorCodes[code].status)] = {
      $ref: '#/components/responses/Problem',
      description: errorCodes[code].description,
    };
  }
  out.default = { $ref: '#/components/responses/Problem' };
  return out;
}

/** One operation of the document: what the route's schema and access rule say. */
export function describeOperation(
  route: CatalogedRoute,
  rule: AccessRule | undefined,
  converter: SchemaConverter,
): JsonObject {
  const schema = route.schema ?? {};
  const { security: requirement, access } = security(rule);
  return {
    operationId: schema.operationId ?? derivedOperationId(route.method, route.url),
    tags: [...(schema.tags ?? [tagOf(route.url)])],
    ...(schema.summary === undefined ? {} : { summary: schema.summary }),
    description:
      schema.description === undefined
        ? `Access: ${access}`
        : `${schema.description}\n\nAccess: ${access}`,
    parameters: parameters(route, converter),
    ...(schema.body === undefined
      ? {}
      : { requestBody: { required: true, content: content(schema.body, converter) } }),
    responses: responses(route, rule, converter),
    ...(requirement === undefined ? {} : { security: requirement }),
    'x-flock-access':
      rule === undefined ? 'none' : rule.access === 'org' ? `org:${rule.role}` : rule.access,
    ...(schema.deprecated === true ? { deprecated: true } : {}),
  };
}
