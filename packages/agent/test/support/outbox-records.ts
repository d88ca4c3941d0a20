import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { type OutboxChannel, SegmentFile } from '../../src/buffer/segment-file.js';

export interface OutboxRecord {
  seq: number;
  channel: OutboxChannel;
  payload: string;
}

const isMissing = (error: unknown) => (error as NodeJS.ErrnoException).code === 'ENOENT';

/**
 * Every record in an agent's outbox directory as the agent itself would read
 * it back after a restart (a torn last line is skipped), acknowledged ones
 * included while their segment is kept. Safe beside a running agent: a
 * segment deleted in between held only acknowledged records.
 */
export async function readOutbox(dir: string): Promise<OutboxRecord[]> {
  const names = await readdir(dir).catch((error: unknown) => {
    if (isMissing(error)) return [];
    throw error;
  });
  const records: OutboxRecord[] = [];
  for (const name of names.filter((n) => /^segment-\d+\.jsonl$/.test(n)).sort()) {
    try {
      const segment = await SegmentFile.load(join(dir, name), 0);
      for (const ref of segment.records) {
        const payload = (await segment.read(ref)).toString('utf8');
        records.push({ seq: ref.seq, channel: ref.channel, payload });
      }
    } catch (error) {
      if (!isMissing(error)) throw error;
    }
  }
  return records;
}
