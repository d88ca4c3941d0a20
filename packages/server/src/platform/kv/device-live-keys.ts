/**
 * Where the ingester keeps each device's live state in the KV store, and where
 * the API reads it: one table so writer and readers cannot drift apart.
 */
export const deviceLiveKeys = {
  /**
   * A hash per device: `state` is the last DeviceStateMessage as JSON,
   * `received_at` the ingester's ISO time of it.
   */
  reported: (deviceId: string): string => `device:${deviceId}:reported`,
  /**
   * A sorted set of the devices online now, scored by when each was last
   * seen (ms since the epoch); the ingester removes a device that went offline.
   */
  presence: 'presence:online',
} as const;

/**
 * The fields of a `deviceLiveKeys.reported` hash. `sent_at` is the state's own
 * time in ms: the version that keeps a late, older heartbeat (a redelivery, or
 * one handled by another ingester) from replacing a newer one.
 */
export const reportedFields = {
  state: 'state',
  receivedAt: 'received_at',
  sentAt: 'sent_at',
} as const;
