import type { FieldError } from '@flock/protocol';
import type { TObject } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { HttpProblem } from '../../../platform/http/problem.js';

/** Fields of a release the server alone sets, and why a client may not. */
const serverAssigned: Readonly<Record<string, string>> = {
  version:
    'is assigned by the server (1, 2, 3… per fleet); a client never chooses a release version',
  id: 'is assigned by the server',
  content_hash: 'is computed by the server from the compose file',
  state: 'is derived by the server',
  created_at: 'is set by the server',
  created_by: 'is set by the server',
  first_deployed_at: 'is set by the server when the release is first deployed',
  archived_at: 'is set by POST /v1/releases/{id}/archive',
  fleet_id: 'comes from the URL',
  org_id: 'comes from the URL',
};

/**
 * A preValidation hook that names each field the body schema does not know,
 * as `/body/<field>`: schema validation reports only `/body` for them, and a
 * client sending `version` must learn that the server assigns it (seed 003).
 */
export function refuseUnknownFields(schema: TObject) {
  const known = new Set(Object.keys(schema.properties));
  return async (request: FastifyRequest): Promise<void> => {
    const body: unknown = request.body;
    if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
    const errors: FieldError[] = Object.keys(body)
      .filter((field) => !known.has(field))
      .map((field) => ({
        field: `/body/${field.replaceAll('~', '~0').replaceAll('/', '~1')}`,
        message: Object.hasOwn(serverAssigned, field)
          ? (serverAssigned[field] ?? '')
          : `is not a field of this request (known: ${[...known].join(', ')})`,
      }));
    if (errors.length > 0) {
      throw new HttpProblem(
        'validation_failed',
        errors.some((error) => error.field === '/body/version')
          ? 'the server assigns release versions; send the compose file without one'
          : 'the body has fields this request does not take',
        errors,
      );
    }
  };
}
