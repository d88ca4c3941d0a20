/**
 * The public event catalogue, version 1. A name here is a promise to
 * customers: it is never renamed or removed within v1, only added to.
 */
export const publicEventTypes = [
  'device.registered',
  'device.deregistered',
  'device.online',
  'device.offline',
  'release.created',
  'deployment.created',
  'rollout.started',
  'rollout.stage_advanced',
  'rollout.completed',
  'rollout.failed',
  'rollout.rolled_back',
  'update.completed',
  'update.failed',
  'provisioning_key.created',
  'provisioning_key.revoked',
  'subscription.disabled',
] as const;
export type PublicEventType = (typeof publicEventTypes)[number];

/** The version every v1 envelope carries; a breaking change is a new catalogue. */
export const publicEventVersion = 1;

/**
 * A subscription's filter: one type (`device.online`), every type of a
 * resource (`rollout.*`) or everything (`*`). Syntax only, so that a
 * subscription may name a type the catalogue gains later.
 */
export const eventTypePattern = '^(\\*|[a-z][a-z0-9_]*\\.(\\*|[a-z][a-z0-9_]*))$';

const eventTypePatternRegex = new RegExp(eventTypePattern);

export function isPublicEventType(type: string): type is PublicEventType {
  return (publicEventTypes as readonly string[]).includes(type);
}

/** Whether one filter selects the type. A malformed filter selects nothing. */
export function matchesEventType(pattern: string, type: string): boolean {
  if (!eventTypePatternRegex.test(pattern)) return false;
  if (pattern === '*') return true;
  if (pattern.endsWith('.*')) return type.startsWith(pattern.slice(0, -1));
  return pattern === type;
}

/** Whether any of a subscription's filters selects the type. */
export function matchesEventTypes(patterns: readonly string[], type: string): boolean {
  return patterns.some((pattern) => matchesEventType(pattern, type));
}

/** The catalogue's types a filter selects; empty for a filter that selects none of them yet. */
export function eventTypesMatching(pattern: string): PublicEventType[] {
  return publicEventTypes.filter((type) => matchesEventType(pattern, type));
}
