import {
  maxDeviceAttributesDepth,
  maxDeviceAttributesSize,
  type UpdateDeviceRequest,
} from '../api/device-registry.js';
import type { FieldError } from '../errors.js';
import { labelKeyProblem, labelValueProblem } from '../selector/label-rules.js';

/** A JSON pointer token (RFC 6901). */
const pointerToken = (key: string): string => key.replaceAll('~', '~0').replaceAll('/', '~1');

const loneSurrogate = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** PostgreSQL refuses NUL in text and jsonb, and lone surrogates in jsonb. */
const unstorable = (text: string): boolean => text.includes('\u0000') || loneSurrogate.test(text);

/** Field errors of labels that passed their schema: Kubernetes key and value syntax. */
export function deviceLabelProblems(
  labels: Readonly<Record<string, string>>,
  at: string,
): FieldError[] {
  const problems: FieldError[] = [];
  for (const [key, value] of Object.entries(labels)) {
    const field = `${at}/${pointerToken(key)}`;
    const problem = labelKeyProblem(key) ?? labelValueProblem(value);
    if (problem !== undefined) problems.push({ field, message: problem });
  }
  return problems;
}

/** Whether objects and arrays nest deeper than `levels` below `value`; never recurses further. */
function nestsDeeper(value: unknown, levels: number): boolean {
  if (typeof value !== 'object' || value === null) return false;
  const children: unknown[] = Array.isArray(value) ? value : Object.values(value);
  return children.some(
    (child) =>
      typeof child === 'object' &&
      child !== null &&
      (levels === 0 || nestsDeeper(child, levels - 1)),
  );
}

function firstUnstorable(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return unstorable(value) ? path : undefined;
  if (typeof value !== 'object' || value === null) return undefined;
  for (const [key, child] of Object.entries(value)) {
    const at = `${path}/${pointerToken(key)}`;
    if (unstorable(key)) return at;
    const found = firstUnstorable(child, at);
    if (found !== undefined) return found;
  }
  return undefined;
}

/** Field errors of attributes that passed their schema: names, size, depth, storable text. */
export function deviceAttributeProblems(
  attributes: Readonly<Record<string, unknown>>,
  at: string,
): FieldError[] {
  const problems: FieldError[] = [];
  for (const name of Object.keys(attributes)) {
    if (name.length === 0 || name.length > 128) {
      problems.push({
        field: `${at}/${pointerToken(name)}`,
        message: 'attribute names have 1 to 128 characters',
      });
    }
  }
  if (nestsDeeper(attributes, maxDeviceAttributesDepth)) {
    problems.push({
      field: at,
      message: `nests objects and arrays more than ${maxDeviceAttributesDepth} levels deep`,
    });
    return problems;
  }
  const size = new TextEncoder().encode(JSON.stringify(attributes)).length;
  if (size > maxDeviceAttributesSize) {
    problems.push({
      field: at,
      message: `is ${size} bytes as JSON; at most ${maxDeviceAttributesSize} are allowed`,
    });
  }
  const bad = firstUnstorable(attributes, at);
  if (bad !== undefined) {
    problems.push({
      field: bad,
      message: 'contains a NUL character or an unpaired surrogate, which cannot be stored',
    });
  }
  return problems;
}

/** Field errors of a device update that passed its schema, below `at` (e.g. `/body`). */
export function deviceUpdateProblems(update: UpdateDeviceRequest, at: string): FieldError[] {
  return [
    ...(update.labels === undefined ? [] : deviceLabelProblems(update.labels, `${at}/labels`)),
    ...(update.attributes === undefined
      ? []
      : deviceAttributeProblems(update.attributes, `${at}/attributes`)),
  ];
}
