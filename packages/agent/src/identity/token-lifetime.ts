/**
 * How long a token lives and how much of that is left. Devices often boot
 * without a real-time clock, so the lifetime comes from the JWT's own `iat`
 * and `exp` (the server's clock on both) whenever they are readable; the
 * local clock only measures time since the token arrived.
 */
export function tokenLifetime(
  token: string,
  expiresAt: string,
  nowMs: number,
): { totalMs: number; remainingMs: number } {
  const claims = jwtClaims(token);
  if (claims !== undefined && claims.exp > claims.iat) {
    const totalMs = (claims.exp - claims.iat) * 1000;
    const sinceIssueMs = nowMs - claims.iat * 1000;
    // A clock behind the server's (no RTC, no NTP yet) would make the token
    // look not yet issued: treat it as fresh. If the broker then refuses it,
    // the session asks for a renewal at once.
    return {
      totalMs,
      remainingMs: sinceIssueMs < 0 ? totalMs : Math.max(0, totalMs - sinceIssueMs),
    };
  }
  const remainingMs = Math.max(0, Date.parse(expiresAt) - nowMs);
  return { totalMs: remainingMs, remainingMs };
}

function jwtClaims(token: string): { iat: number; exp: number } | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    if (typeof claims.iat === 'number' && typeof claims.exp === 'number') {
      return { iat: claims.iat, exp: claims.exp };
    }
  } catch {
    return undefined;
  }
  return undefined;
}
