import { problemContentType } from '@flock/protocol';
import type { AccessRule } from '../../../platform/auth/access-rule.js';
import { ruleKey } from '../access-control.js';
import { describeOperation, openApiPath } from './openapi-operation.js';
import { type JsonObject, SchemaConverter } from './openapi-schemas.js';
import type { RouteCatalog } from './route-catalog.js';

export interface OpenApiInput {
  routes: RouteCatalog;
  rules: Readonly<Record<string, AccessRule>>;
  /** Schemas to name in `components.schemas`, by identity (see namedSchemas). */
  named: ReadonlyMap<object, string>;
  version: string;
}

const methodOrder = ['get', 'put', 'post', 'patch', 'delete'];

const description = `The REST API of Flock: fleets, devices, releases, deployments and everything around them.

- JSON field names are snake_case; timestamps are ISO 8601; ids are UUIDs.
- Errors are RFC 9457 problem documents (\`application/problem+json\`) whose \`code\` says what went wrong and whose \`errors\` name each field at fault.
- Lists answer \`{ items, next_cursor }\`; pass \`?cursor=<next_cursor>\` for the next page and \`?limit=\` (at most 500).
- Updates answer an \`ETag\`; send it back in \`If-Match\` to refuse (412) a change made in between.
- Every POST accepts an \`Idempotency-Key\`: a repeat answers the first response again for 24 hours, without acting twice.
- People sign in with the configured OIDC provider and send its access token; automation sends an API key; devices send the token Flock issued them. All three go in \`Authorization: Bearer <token>\`.`;

const securitySchemes: JsonObject = {
  user_token: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'An access token from the OIDC provider this installation trusts',
  },
  api_key: {
    type: 'http',
    scheme: 'bearer',
    description: 'An API key (flk_...), scoped to one org and one role',
  },
  device_token: {
    type: 'http',
    scheme: 'bearer',
    bearerFormat: 'JWT',
    description: 'A device token from POST /v1/devices/register or POST /v1/devices/token',
  },
};

/** The OpenAPI 3.1 document of the routes an app registered, with their access rules. */
export function buildOpenApiDocument(input: OpenApiInput): JsonObject {
  const converter = new SchemaConverter(input.named);
  const problemSchema = [...input.named].find(([, name]) => name === 'Problem')?.[0];
  const problemRef =
    problemSchema === undefined ? { type: 'object' } : converter.convert(problemSchema);
  const paths: Record<string, JsonObject> = {};
  const ids = new Set<string>();
  const tags = new Set<string>();
  for (const route of input.routes) {
    const method = route.method.toLowerCase();
    if (!methodOrder.includes(method) || route.schema?.hide === true) continue;
    const rule = input.rules[ruleKey(route.method, route.url)];
    const operation = describeOperation(route, rule, converter);
    const base = String(operation.operationId);
    let id = base;
    for (let n = 2; ids.has(id); n += 1) id = `${base}${n}`;
    ids.add(id);
    operation.operationId = id;
    for (const tag of operation.tags as string[]) tags.add(tag);
    const path = openApiPath(route.url);
    paths[path] = { ...paths[path], [method]: operation };
  }
  const sortedPaths = Object.fromEntries(
    Object.keys(paths)
      .sort()
      .map((path) => {
        const item = paths[path] ?? {};
        return [
          path,
          Object.fromEntries(methodOrder.filter((m) => m in item).map((m) => [m, item[m] ?? null])),
        ];
      }),
  );
  return {
    openapi: '3.1.0',
    info: {
      title: 'Flock API',
      version: input.version,
      description,
      license: { name: 'Apache-2.0', identifier: 'Apache-2.0' },
    },
    tags: [...tags].sort().map((name) => ({ name })),
    paths: sortedPaths,
    components: {
      schemas: converter.components(),
      responses: {
        Problem: {
          description: 'An error, as a problem document; its `code` says which',
          content: { [problemContentType]: { schema: problemRef } },
        },
      },
      parameters: {
        IdempotencyKey: {
          name: 'Idempotency-Key',
          in: 'header',
          required: false,
          description:
            'Any unique string (a UUID will do). A repeat of the same request with the same key within 24 hours answers the first response again, with Idempotent-Replayed: true, and changes nothing; the same key with a different request is refused with 409.',
          schema: { type: 'string', minLength: 1, maxLength: 255, pattern: '^[\\x21-\\x7E]+$' },
        },
      },
      securitySchemes,
    },
  };
}
