import { readFileSync } from 'node:fs';

// Read from package.json so a release bump cannot forget the agent's own report.
const packageJson = JSON.parse(
  readFileSync(new URL('../package.json', import.meta.url), 'utf8'),
) as { version: string };

export const agentVersion: string = packageJson.version;
