import type { Logger } from 'pino';
import { recordAuditEvent } from '../audit/audit-log.js';
import type { Database, Tx } from '../db/database.js';
import type { UserActor } from './actor.js';

/** What a verified token (and perhaps the userinfo endpoint) says about a person. */
export interface UserProfile {
  email?: string;
  /** False when the issuer says it never confirmed the email: such an email is not trusted. */
  emailVerified?: boolean;
  name?: string;
}

export interface LoginIdentity extends UserProfile {
  issuer: string;
  subject: string;
}

/** last_login_at is written at most this often per user, not on every request. */
const lastLoginResolutionMs = 60_000;

const emailPattern = /^[^\s@]+@[^\s@]+$/;

/**
 * The email Flock may act on: matching it grants memberships, so an address
 * the issuer marks unverified is ignored rather than stored.
 */
function trustedEmail(profile: UserProfile): string | undefined {
  const email = profile.email?.trim();
  if (email === undefined || profile.emailVerified === false || !emailPattern.test(email)) {
    return undefined;
  }
  return email;
}

/**
 * Turns a pending membership (invited by email before the person ever logged
 * in) into a real one. Orgs the user already belongs to are skipped: the
 * user may hold one membership per org.
 */
export async function activatePendingMemberships(
  tx: Tx,
  user: { id: string; email: string },
  now: Date,
): Promise<void> {
  const joined = await tx
    .updateTable('memberships')
    .set({ user_id: user.id, joined_at: now })
    .where('user_id', 'is', null)
    .where('email', '=', user.email.toLowerCase())
    .where('org_id', 'not in', (eb) =>
      eb
        .selectFrom('memberships as mine')
        .select('mine.org_id')
        .where('mine.user_id', '=', user.id),
    )
    .returning(['id', 'org_id', 'role'])
    .execute();
  for (const membership of joined) {
    await recordAuditEvent(tx, {
      orgId: membership.org_id,
      actor: { type: 'user', id: user.id },
      action: 'member.joined',
      resourceType: 'membership',
      resourceId: membership.id,
      summary: { email: user.email.toLowerCase(), role: membership.role },
    });
  }
}

/**
 * People as Flock stores them: one row per (issuer, subject), created on
 * first login. The email and name follow the issuer's latest word.
 */
export class UserAccounts {
  private readonly now: () => Date;

  constructor(
    private readonly database: Database,
    private readonly options: { now?: () => Date; log?: Logger } = {},
  ) {
    this.now = options.now ?? (() => new Date());
  }

  /**
   * Finds or creates the user a verified token names. `loadProfile` is asked
   * only when a new user's token carries no usable email, since pending
   * memberships can only be matched by email.
   */
  async recordLogin(
    identity: LoginIdentity,
    loadProfile?: () => Promise<UserProfile>,
  ): Promise<UserActor> {
    const existing = await this.database.db
      .selectFrom('users')
      .select(['id', 'email', 'name', 'last_login_at'])
      .where('issuer', '=', identity.issuer)
      .where('subject', '=', identity.subject)
      .executeTakeFirst();
    if (existing === undefined) return this.firstLogin(identity, loadProfile);

    const now = this.now();
    const email = trustedEmail(identity);
    const changes: { email?: string; name?: string; last_login_at?: Date } = {};
    if (email !== undefined && email !== existing.email) changes.email = email;
    if (identity.name !== undefined && identity.name !== existing.name)
      changes.name = identity.name;
    const lastLogin = existing.last_login_at?.getTime();
    if (lastLogin === undefined || now.getTime() - lastLogin >= lastLoginResolutionMs) {
      changes.last_login_at = now;
    }
    if (Object.keys(changes).length > 0) {
      await this.database.transaction(async (tx) => {
        await tx.updateTable('users').set(changes).where('id', '=', existing.id).execute();
        if (changes.email !== undefined) {
          await activatePendingMemberships(tx, { id: existing.id, email: changes.email }, now);
        }
      });
    }
    return {
      type: 'user',
      id: existing.id,
      email: changes.email ?? existing.email,
      name: changes.name ?? existing.name,
    };
  }

  private async firstLogin(
    identity: LoginIdentity,
    loadProfile: (() => Promise<UserProfile>) | undefined,
  ): Promise<UserActor> {
    let profile: UserProfile = identity;
    if (trustedEmail(identity) === undefined && loadProfile !== undefined) {
      try {
        const loaded = await loadProfile();
        profile = { ...loaded, name: identity.name ?? loaded.name };
      } catch (error) {
        this.options.log?.warn(
          { err: error, subject: identity.subject },
          'userinfo failed; the new user has no email, so pending invitations cannot match',
        );
      }
    }
    const email = trustedEmail(profile) ?? null;
    const name = profile.name ?? null;
    const now = this.now();
    return this.database.transaction(async (tx) => {
      const inserted = await tx
        .insertInto('users')
        .values({
          issuer: identity.issuer,
          subject: identity.subject,
          email,
          name,
          last_login_at: now,
        })
        .onConflict((conflict) => conflict.columns(['issuer', 'subject']).doNothing())
        .returning('id')
        .executeTakeFirst();
      if (inserted === undefined) {
        // A concurrent first request of the same person created the row; it also activated.
        const row = await tx
          .selectFrom('users')
          .select(['id', 'email', 'name'])
          .where('issuer', '=', identity.issuer)
          .where('subject', '=', identity.subject)
          .executeTakeFirstOrThrow();
        return { type: 'user', id: row.id, email: row.email, name: row.name };
      }
      if (email !== null) await activatePendingMemberships(tx, { id: inserted.id, email }, now);
      return { type: 'user', id: inserted.id, email, name };
    });
  }
}
