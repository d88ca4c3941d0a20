/**
 * Every MQTT topic Flock uses, built in one place. Device topics are the
 * device's own; `flock/internal/v1` is between backend targets only;
 * `flock/events/v1` is the public, versioned event API.
 */
export const internalTopics = {
  /** Each audit event after its change committed; payload: the stored AuditEvent. */
  audit: 'flock/internal/v1/audit',
} as const;
