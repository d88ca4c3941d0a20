import type { UpdateDeviceRequest } from '@flock/protocol';
import type { Updateable } from 'kysely';
import type { DevicesTable } from '../../../platform/db/schema.js';
import type { DeviceRow } from './device-view.js';

export type DeviceField = keyof UpdateDeviceRequest;

export interface DeviceChange {
  /** The fields whose value the update changes; empty when it changes nothing. */
  fields: DeviceField[];
  /** The columns to write. */
  set: Updateable<DevicesTable>;
  /** For the audit event: from and to of each changed field. */
  summary: Record<string, unknown>;
}

/** JSON with sorted keys, so jsonb's reordering is no change. */
function canonical(value: unknown): string {
  if (typeof value !== 'object' || value === null) return JSON.stringify(value) ?? 'undefined';
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  const entries = Object.entries(value)
    .filter(([, child]) => child !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, child]) => `${JSON.stringify(key)}:${canonical(child)}`).join(',')}}`;
}

function keyChanges(
  from: Readonly<Record<string, unknown>>,
  to: Readonly<Record<string, unknown>>,
) {
  const added = Object.keys(to).filter((key) => !Object.hasOwn(from, key));
  const removed = Object.keys(from).filter((key) => !Object.hasOwn(to, key));
  const changed = Object.keys(to).filter(
    (key) => Object.hasOwn(from, key) && canonical(from[key]) !== canonical(to[key]),
  );
  return { added, removed, changed };
}

function describe(field: DeviceField, from: unknown, to: unknown): unknown {
  if (field === 'labels') {
    const before = from as Record<string, string>;
    const after = to as Record<string, string>;
    const { added, removed, changed } = keyChanges(before, after);
    return {
      added: Object.fromEntries(added.map((key) => [key, after[key]])),
      removed,
      changed: Object.fromEntries(
        changed.map((key) => [key, { from: before[key], to: after[key] }]),
      ),
    };
  }
  // Attribute values can be large and are the customer's own data: names only.
  if (field === 'attributes') {
    return keyChanges(from as Record<string, unknown>, to as Record<string, unknown>);
  }
  return { from, to };
}

/** What an update changes on a device row; fields set to their current value are no change. */
export function deviceChange(current: DeviceRow, update: UpdateDeviceRequest): DeviceChange {
  const fields = (Object.keys(update) as DeviceField[]).filter(
    (field) =>
      update[field] !== undefined && canonical(update[field]) !== canonical(current[field]),
  );
  const summary: Record<string, unknown> = { fields };
  for (const field of fields) summary[field] = describe(field, current[field], update[field]);
  const take = <K extends DeviceField>(field: K): UpdateDeviceRequest[K] | undefined =>
    fields.includes(field) ? update[field] : undefined;
  const json = (value: unknown): string | undefined =>
    value === undefined ? undefined : JSON.stringify(value);
  const geolocation = take('geolocation');
  const set: Updateable<DevicesTable> = {
    name: take('name'),
    labels: json(take('labels')),
    attributes: json(take('attributes')),
    role: take('role'),
    segment: take('segment'),
    branch: take('branch'),
    update_interval: take('update_interval'),
    serial: take('serial'),
    geolocation: geolocation === null ? null : json(geolocation),
    owner: take('owner'),
  };
  return { fields, set, summary };
}
