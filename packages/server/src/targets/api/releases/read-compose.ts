import { createHash } from 'node:crypto';
import {
  type ComposeFile,
  type ComposePath,
  type CreateReleaseRequest,
  type FieldError,
  parseCompose,
} from '@flock/protocol';
import { canonicalJson } from '../../../platform/audit/canonical-json.js';
import { HttpProblem } from '../../../platform/http/problem.js';
import { parseComposeYaml } from './compose-yaml.js';

/** RFC 6901: `~` and `/` inside a key are escaped. */
function pointer(base: string, path: ComposePath): string {
  return `${base}${path.map((key) => `/${String(key).replaceAll('~', '~0').replaceAll('/', '~1')}`).join('')}`;
}

function invalid(detail: string, errors: FieldError[]): HttpProblem {
  return new HttpProblem('validation_failed', detail, errors);
}

/**
 * The compose file of a create request, validated and normalised, from
 * whichever of `compose` (JSON) or `compose_yaml` (text) it carries. Field
 * errors point into the part that was sent, `/body/compose/services/web/image`
 * or `/body/compose_yaml/services/web/image` with the line.
 */
export function readCompose(body: CreateReleaseRequest): ComposeFile {
  const { compose, compose_yaml: yaml } = body;
  if ((compose === undefined) === (yaml === undefined)) {
    const message =
      'send the compose file as compose (a JSON object) or as compose_yaml (YAML text), exactly one of them';
    throw invalid(message, [
      { field: '/body/compose', message },
      { field: '/body/compose_yaml', message },
    ]);
  }
  if (yaml === undefined) {
    const result = parseCompose(compose);
    if (result.ok) return result.compose;
    throw invalid(
      'the compose file cannot be a release',
      result.issues.map((issue) => ({
        field: pointer('/body/compose', issue.path),
        message: issue.message,
      })),
    );
  }
  const read = parseComposeYaml(yaml);
  if (Array.isArray(read)) throw invalid('compose_yaml is not valid YAML', read);
  const result = parseCompose(read.value);
  if (result.ok) return result.compose;
  throw invalid(
    'the compose file cannot be a release',
    result.issues.map((issue) => {
      const line = read.lineOf(issue.path);
      return {
        field: pointer('/body/compose_yaml', issue.path),
        message: line === undefined ? issue.message : `${issue.message} (line ${line})`,
      };
    }),
  );
}

/** sha256 of the canonical JSON: equal files hash alike whatever their key order. */
export function composeContentHash(compose: ComposeFile): string {
  return createHash('sha256').update(canonicalJson(compose)).digest('hex');
}
