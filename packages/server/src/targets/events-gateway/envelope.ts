import {
  type PublicEventData,
  type PublicEventOf,
  type PublicEventType,
  publicEventVersion,
} from '@flock/protocol';

export interface EnvelopeFields {
  id: string;
  occurredAt: Date | string;
  orgId: string;
  fleetId?: string | null;
  deviceId?: string | null;
}

/**
 * Builds one public event. Translations pass what their source holds; the
 * pipeline checks the result against the catalogue before storing it, so a
 * source that changed shape is caught there, not in a customer's receiver.
 */
export function envelope<T extends PublicEventType>(
  type: T,
  fields: EnvelopeFields,
  data: PublicEventData<T>,
): PublicEventOf<T> {
  return {
    id: fields.id,
    type,
    version: publicEventVersion,
    occurred_at: new Date(fields.occurredAt).toISOString(),
    org_id: fields.orgId,
    fleet_id: fields.fleetId ?? null,
    device_id: fields.deviceId ?? null,
    data,
  } as PublicEventOf<T>;
}
