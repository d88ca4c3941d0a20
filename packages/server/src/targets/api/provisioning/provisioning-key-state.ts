import type { ProvisioningKeyState } from '@flock/protocol';

interface KeyLimits {
  revoked_at: Date | null;
  expires_at: Date | null;
  uses: number;
  max_uses: number | null;
}

/** Whether a key can register a new device at `now`, and if not, why. */
export function provisioningKeyState(key: KeyLimits, now: Date): ProvisioningKeyState {
  if (key.revoked_at !== null) return 'revoked';
  if (key.expires_at !== null && key.expires_at <= now) return 'expired';
  if (key.max_uses !== null && key.uses >= key.max_uses) return 'exhausted';
  return 'active';
}
