import { type Static, Type } from '@sinclair/typebox';
import type { FieldError } from '../errors.js';
import {
  LabelSelectorSyntaxError,
  type LabelRequirement,
  matchesLabels,
  parseLabelSelector,
} from './label-selector.js';

export const SegmentName = Type.String({ minLength: 1, maxLength: 64 });

/**
 * Which devices of the deployment's fleet a deployment targets; every given
 * part must match (AND), and an absent part matches every device.
 */
export const TargetSelector = Type.Object(
  {
    labels: Type.Optional(
      Type.String({
        maxLength: 4096,
        description:
          'A Kubernetes label selector: "env=prod,region in (eu,us),!legacy,tier!=gold,gpu". As in Kubernetes, != and notin also match devices without the key.',
      }),
    ),
    attributes: Type.Optional(
      Type.Record(Type.String(), Type.Unknown(), {
        maxProperties: 32,
        description:
          'Conditions on custom attributes: "name": value (string, number or boolean; equal without type conversion) or "name": { "in": [values] }.',
      }),
    ),
    versions: Type.Optional(
      Type.Object(
        {
          /** Inclusive; a release version of the fleet (1, 2, ...). */
          min: Type.Optional(Type.Integer({ minimum: 1 })),
          max: Type.Optional(Type.Integer({ minimum: 1 })),
          /** Whether devices whose running release is unknown match; default false. */
          include_unknown: Type.Optional(Type.Boolean()),
        },
        {
          additionalProperties: false,
          description: 'Bounds on the version of the fleet release a device runs, inclusive.',
        },
      ),
    ),
    segments: Type.Optional(
      Type.Array(SegmentName, {
        minItems: 1,
        maxItems: 32,
        uniqueItems: true,
        description:
          'Devices whose registry segment is one of these (seed 002: canary, early, general).',
      }),
    ),
  },
  { additionalProperties: false },
);
export type TargetSelector = Static<typeof TargetSelector>;

export type AttributeScalar = string | number | boolean;

/** What a selector reads of a device; the fleet is the caller's to match. */
export interface SelectableDevice {
  labels: Readonly<Record<string, string>>;
  attributes: Readonly<Record<string, unknown>>;
  segment: string | null;
  /** The version of the fleet release the device runs; null when unknown. */
  running_version: number | null;
}

const isScalar = (value: unknown): value is AttributeScalar =>
  typeof value === 'string' ||
  (typeof value === 'number' && Number.isFinite(value)) ||
  typeof value === 'boolean';

const maxAttributeValues = 100;

/**
 * Field errors of a selector that passed its schema, with fields below
 * `at` (e.g. `/body/selector`). Empty when it is valid.
 */
export function selectorProblems(selector: TargetSelector, at: string): FieldError[] {
  const problems: FieldError[] = [];
  if (selector.labels !== undefined) {
    try {
      parseLabelSelector(selector.labels);
    } catch (error) {
      if (!(error instanceof LabelSelectorSyntaxError)) throw error;
      problems.push({ field: `${at}/labels`, message: error.message });
    }
  }
  for (const [name, condition] of Object.entries(selector.attributes ?? {})) {
    const field = `${at}/attributes/${name.replaceAll('~', '~0').replaceAll('/', '~1')}`;
    if (name.length === 0 || name.length > 128) {
      problems.push({ field, message: 'attribute names have 1 to 128 characters' });
    } else if (!isScalar(condition) && !isInCondition(condition)) {
      problems.push({
        field,
        message: `must be a string, number or boolean, or { "in": [1 to ${maxAttributeValues} of them] }`,
      });
    }
  }
  const { min, max } = selector.versions ?? {};
  if (min !== undefined && max !== undefined && min > max) {
    problems.push({ field: `${at}/versions/max`, message: `must be at least min (${min})` });
  }
  return problems;
}

function isInCondition(condition: unknown): condition is { in: AttributeScalar[] } {
  if (typeof condition !== 'object' || condition === null || Array.isArray(condition)) return false;
  const keys = Object.keys(condition);
  const values: unknown = (condition as { in?: unknown }).in;
  return (
    keys.length === 1 &&
    Array.isArray(values) &&
    values.length > 0 &&
    values.length <= maxAttributeValues &&
    values.every(isScalar)
  );
}

/**
 * A predicate for a valid selector (see `selectorProblems`), parsing it once
 * so matching a large fleet stays cheap.
 */
export function compileSelector(selector: TargetSelector): (device: SelectableDevice) => boolean {
  const labels: LabelRequirement[] =
    selector.labels === undefined ? [] : parseLabelSelector(selector.labels);
  const attributes = Object.entries(selector.attributes ?? {}).map(([name, condition]) => {
    const accepted: readonly unknown[] = isInCondition(condition) ? condition.in : [condition];
    return { name, accepted };
  });
  const segments = selector.segments === undefined ? undefined : new Set(selector.segments);
  const versions = selector.versions;
  return (device) => {
    if (!matchesLabels(labels, device.labels)) return false;
    for (const { name, accepted } of attributes) {
      if (!Object.hasOwn(device.attributes, name) || !accepted.includes(device.attributes[name])) {
        return false;
      }
    }
    if (segments !== undefined && (device.segment === null || !segments.has(device.segment))) {
      return false;
    }
    if (versions !== undefined) {
      const version = device.running_version;
      if (version === null) return versions.include_unknown === true;
      if (versions.min !== undefined && version < versions.min) return false;
      if (versions.max !== undefined && version > versions.max) return false;
    }
    return true;
  };
}
