#!/usr/bin/env node
// Builds what ships to devices: flockd and every dependency in a few ES
// module files under dist/ (the entry dist/main.js, one chunk per lazily
// loaded part), no node_modules needed. A bundle parsed once holds less code
// and fewer module records than 450 files would: decision 0317. `tsc -b`
// only typechecks the agent; this is its build.
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const agent = join(dirname(fileURLToPath(import.meta.url)), '..');
const outdir = join(agent, 'dist');

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: join(agent, 'src/main.ts') },
  outdir,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // The runtime adapters, the simulator and the agent itself stay separate
  // chunks behind their dynamic imports, loaded only by what runs.
  splitting: true,
  chunkNames: '[name]-[hash]',
  // Identifiers stay, so stack traces from a device still name functions;
  // renaming them too saved nothing measurable.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  // The CommonJS dependencies (mqtt, pino) call require() for Node's own modules.
  banner: {
    js: "import { createRequire as __flockdCreateRequire } from 'node:module'; const require = __flockdCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
});
