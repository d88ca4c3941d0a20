import type { FieldError } from '@flock/protocol';
import { HttpProblem } from '../../../platform/http/problem.js';

export function deploymentNotFound(): HttpProblem {
  return new HttpProblem('not_found', 'no such deployment');
}

export function invalidPlan(problems: FieldError[]): HttpProblem {
  return new HttpProblem(
    'validation_failed',
    'the deployment plan breaks the rules named in errors',
    problems,
  );
}
