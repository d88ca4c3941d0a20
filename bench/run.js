#!/usr/bin/env node
// Runs one benchmark: `npm run bench -- <name>`. A benchmark is
// bench/<name>.bench.js whose default export resolves to
// { metric, value, unit, better, target, baseline: { what, value }, ...extra }.
// This runner adds what makes a result comparable later (machine, commit,
// date) and writes bench/results/<name>.json.
import { execFileSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const available = readdirSync(here)
  .filter((file) => file.endsWith('.bench.js'))
  .map((file) => file.replace(/\.bench\.js$/, ''));

const name = process.argv[2];
if (name === undefined || !available.includes(name)) {
  console.error(
    `usage: npm run bench -- <name>\navailable: ${available.length > 0 ? available.join(', ') : '(none yet)'}`,
  );
  process.exit(2);
}

function commit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    return 'unknown';
  }
}

const { default: run } = await import(pathToFileURL(join(here, `${name}.bench.js`)).href);
const result = await run({ log: (line) => console.error(`[${name}] ${line}`) });
const record = {
  name,
  ...result,
  machine: {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory_gib: Math.round(totalmem() / 2 ** 30),
    node: process.version,
  },
  commit: commit(),
  date: new Date().toISOString(),
};
const file = join(here, 'results', `${name}.json`);
writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
console.log(JSON.stringify(record, null, 2));
console.error(`[${name}] written to ${file}`);
