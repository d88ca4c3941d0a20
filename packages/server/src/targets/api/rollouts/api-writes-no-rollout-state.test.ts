import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const apiDir = fileURLToPath(new URL('..', import.meta.url));
/** What only the scheduler writes (docs/decisions/0505-api-records-intents.md). */
const schedulerTables = [
  'rollouts',
  'rollout_devices',
  'rollout_gate_evaluations',
  'scheduler_leadership',
];

async function sources(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) found.push(...(await sources(path)));
    else if (entry.name.endsWith('.ts') && !entry.name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

/** Every write a source file could make to `table`, through Kysely or in SQL text. */
function writesTo(source: string, table: string): string[] {
  const patterns = [
    new RegExp(
      `(insertInto|updateTable|deleteFrom|replaceInto|mergeInto)\\(\\s*['"\`]${table}(\\s+as\\s+\\w+)?['"\`]`,
      'g',
    ),
    new RegExp(`\\b(insert\\s+into|update|delete\\s+from|truncate)\\s+${table}\\b`, 'gi'),
  ];
  return patterns.flatMap((pattern) => [...source.matchAll(pattern)].map((match) => match[0]));
}

describe('the api target', () => {
  it('has no code path that writes rollout state: it records intents, the scheduler writes status', async () => {
    const files = await sources(apiDir);
    expect(files.length).toBeGreaterThan(50);
    const writes: string[] = [];
    for (const file of files) {
      const source = await readFile(file, 'utf8');
      for (const table of schedulerTables)
        for (const write of writesTo(source, table)) writes.push(`${file}: ${write}`);
    }
    expect(writes).toEqual([]);
  });

  it('would notice such a write', () => {
    expect(
      writesTo("tx.updateTable('rollout_devices').set({ status: 'failed' })", 'rollout_devices'),
    ).toHaveLength(1);
    expect(writesTo('await sql`update rollouts set state = ${s}`', 'rollouts')).toHaveLength(1);
    expect(writesTo("tx.insertInto('rollout_intents')", 'rollouts')).toEqual([]);
  });
});
