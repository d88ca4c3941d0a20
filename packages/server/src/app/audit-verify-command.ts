import { pino } from 'pino';
import {
  type AuditChainReport,
  type ChainBreak,
  verifyAuditChain,
} from '../platform/audit/verify-audit-chain.js';
import type { Config } from '../platform/config/settings.js';
import { migrateToLatest } from '../platform/db/migrate.js';
import { openDatabase } from '../platform/db/open-database.js';
import { exitCodes } from './exit-codes.js';

export interface AuditVerifyOptions {
  json: boolean;
  write?: (text: string) => void;
}

function describeBreak(found: ChainBreak): string {
  switch (found.kind) {
    case 'content':
      return `content altered at seq ${found.seq} (event ${found.eventId}): stored hash ${found.storedHash}, its fields hash to ${found.expectedHash}`;
    case 'link':
      return `link altered at seq ${found.seq} (event ${found.eventId}): prev_hash ${found.storedPrevHash} should be ${found.expectedPrevHash} (stored hash ${found.storedHash}, expected ${found.expectedHash})`;
    case 'gap':
      return found.foundSeq === null
        ? `events from seq ${found.seq} on are missing: the chain ends before its head`
        : `gap: seq ${found.seq} is missing, the next event is seq ${found.foundSeq} (event ${found.eventId})`;
    case 'head':
      return `head altered: it points at seq ${found.seq} with hash ${found.storedHash}, but that event's hash is ${found.expectedHash}`;
  }
}

function count(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** One line per org, then the verdict; a broken org's line names its first broken link. */
export function formatAuditChainReport(report: AuditChainReport): string {
  const lines = report.orgs.map((org) =>
    org.ok
      ? `org ${org.orgId}: ok, ${count(org.events, 'event')}`
      : `org ${org.orgId}: BROKEN after ${count(org.events, 'good event')}: ${describeBreak(org.break!)}`,
  );
  const broken = report.orgs.filter((org) => !org.ok).length;
  const total = report.orgs.reduce((sum, org) => sum + org.events, 0);
  lines.push(
    report.ok
      ? `audit log intact: ${count(report.orgs.length, 'org')}, ${count(total, 'event')} verified`
      : `audit log BROKEN in ${broken} of ${count(report.orgs.length, 'org')}`,
  );
  return `${lines.join('\n')}\n`;
}

/**
 * `flock-server audit verify`: recomputes every org's hash chain in the
 * configured database. Exit 0 when intact, 1 when any chain is broken.
 */
export async function runAuditVerify(config: Config, options: AuditVerifyOptions): Promise<number> {
  const write = options.write ?? ((text: string) => void process.stdout.write(text));
  // stdout carries the report (JSON with --json); logs go to stderr, and only when they matter.
  const level = ['silent', 'fatal', 'error'].includes(config.logLevel) ? config.logLevel : 'warn';
  const log = pino({ level }, pino.destination({ fd: 2, sync: true }));
  const database = await openDatabase({ url: config.databaseUrl, dataDir: config.dataDir, log });
  try {
    await migrateToLatest(database.db, log);
    const report = await verifyAuditChain(database.db);
    write(options.json ? `${JSON.stringify(report, null, 2)}\n` : formatAuditChainReport(report));
    return report.ok ? exitCodes.ok : exitCodes.failure;
  } finally {
    await database.close();
  }
}
