import { sql } from 'kysely';
import type { Db } from '../db/database.js';
import { auditHash, genesisHash } from './audit-event.js';
import { auditEventFromRow } from './audit-event-json.js';

/** The first place an org's chain stops holding together. */
export type ChainBreak =
  /** The stored fields no longer hash to the stored hash: the event was edited. */
  | {
      kind: 'content';
      seq: number;
      eventId: string;
      expectedHash: string;
      storedHash: string;
    }
  /**
   * The event hashes correctly over its own prev_hash, but that is not the
   * previous event's hash: the event was replaced, re-hashed or moved.
   */
  | {
      kind: 'link';
      seq: number;
      eventId: string;
      expectedHash: string;
      storedHash: string;
      expectedPrevHash: string;
      storedPrevHash: string;
    }
  /**
   * Sequence `seq` is missing: events were deleted. `eventId` is the event
   * found in its place, or null when the chain ends before the org's head.
   */
  | { kind: 'gap'; seq: number; eventId: string | null; foundSeq: number | null }
  /** The org's head row does not hold the hash of the event it points at. */
  | { kind: 'head'; seq: number; expectedHash: string; storedHash: string };

export interface OrgChainReport {
  orgId: string;
  /** Events checked before the chain ended or broke. */
  events: number;
  /** The last sequence number the org's head row records; null when the head is gone. */
  headSeq: number | null;
  ok: boolean;
  break?: ChainBreak;
}

export interface AuditChainReport {
  ok: boolean;
  orgs: OrgChainReport[];
}

export interface VerifyOptions {
  /** Rows read per query, so memory stays flat however long the chain is. */
  batchSize?: number;
}

async function orgsWithAudit(db: Db): Promise<string[]> {
  // Heads go when their org is deleted, events stay: both sources are needed.
  const result = await sql<{ org_id: string }>`
    select org_id from audit_heads
    union
    select distinct org_id from audit_events
    order by org_id`.execute(db);
  return result.rows.map((row) => row.org_id);
}

async function verifyOrg(db: Db, orgId: string, batchSize: number): Promise<OrgChainReport> {
  // Read first: events appended while this runs lie past the head and are left for the next run.
  const head = await db
    .selectFrom('audit_heads')
    .select(['seq', 'hash'])
    .where('org_id', '=', orgId)
    .executeTakeFirst();
  const headSeq = head === undefined ? null : Number(head.seq);
  let previousHash = genesisHash;
  let expectedSeq = 1;
  let events = 0;
  const broken = (found: ChainBreak): OrgChainReport => ({
    orgId,
    events,
    headSeq,
    ok: false,
    break: found,
  });

  for (;;) {
    let query = db
      .selectFrom('audit_events')
      .selectAll()
      .where('org_id', '=', orgId)
      .where('seq', '>=', String(expectedSeq))
      .orderBy('seq')
      .limit(batchSize);
    if (headSeq !== null) query = query.where('seq', '<=', String(headSeq));
    const rows = await query.execute();
    for (const row of rows) {
      const event = auditEventFromRow(row);
      if (event.seq !== expectedSeq) {
        return broken({ kind: 'gap', seq: expectedSeq, eventId: event.id, foundSeq: event.seq });
      }
      const expectedHash = auditHash({ ...event, prevHash: previousHash });
      if (expectedHash !== event.hash) {
        const selfConsistent = auditHash(event) === event.hash;
        return broken(
          selfConsistent
            ? {
                kind: 'link',
                seq: event.seq,
                eventId: event.id,
                expectedHash,
                storedHash: event.hash,
                expectedPrevHash: previousHash,
                storedPrevHash: event.prevHash,
              }
            : {
                kind: 'content',
                seq: event.seq,
                eventId: event.id,
                expectedHash,
                storedHash: event.hash,
              },
        );
      }
      previousHash = event.hash;
      expectedSeq += 1;
      events += 1;
    }
    if (rows.length < batchSize) break;
  }

  // The head is written with every event, so it catches the newest events being deleted too.
  if (head !== undefined && headSeq !== null) {
    if (headSeq >= expectedSeq)
      return broken({ kind: 'gap', seq: expectedSeq, eventId: null, foundSeq: null });
    if (head.hash !== previousHash) {
      return broken({
        kind: 'head',
        seq: headSeq,
        expectedHash: previousHash,
        storedHash: head.hash,
      });
    }
  }
  return { orgId, events, headSeq, ok: true };
}

/**
 * Recomputes every org's audit chain from the genesis hash in sequence order
 * and reports, per org, whether it is intact or where it first breaks. Reads
 * in batches; it never loads a whole chain.
 */
export async function verifyAuditChain(
  db: Db,
  options: VerifyOptions = {},
): Promise<AuditChainReport> {
  const batchSize = options.batchSize ?? 1000;
  const orgs: OrgChainReport[] = [];
  for (const orgId of await orgsWithAudit(db)) orgs.push(await verifyOrg(db, orgId, batchSize));
  return { ok: orgs.every((org) => org.ok), orgs };
}
