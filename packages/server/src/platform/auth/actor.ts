import type { Role } from '@flock/protocol';

/** A person, authenticated by a JWT from the configured OIDC issuer. */
export interface UserActor {
  type: 'user';
  id: string;
  email: string | null;
  name: string | null;
}

/** Automation, authenticated by an API key that belongs to one org with one role. */
export interface ApiKeyActor {
  type: 'api_key';
  id: string;
  orgId: string;
  role: Role;
  name: string;
}

/** A registered device, authenticated by a device JWT that Flock signed. */
export interface DeviceActor {
  type: 'device';
  id: string;
  orgId: string;
  fleetId: string;
}

export type Actor = UserActor | ApiKeyActor | DeviceActor;

/** Who did something, as the audit log records it. */
export function actorRef(actor: Actor | undefined): { type: string; id: string } {
  return actor === undefined ? { type: 'anonymous', id: '-' } : { type: actor.type, id: actor.id };
}
