import { describe, expect, it } from 'vitest';
import { AgentError, agentErrorCodes, exitCodes } from './agent-error.js';

describe('AgentError', () => {
  it('documents every code and maps it to an exit code from the table', () => {
    const exits = new Set<number>(Object.values(exitCodes));
    for (const [code, entry] of Object.entries(agentErrorCodes)) {
      expect(entry.meaning.length, code).toBeGreaterThan(10);
      expect(exits.has(entry.exitCode), code).toBe(true);
    }
  });

  it('carries its code, exit code and cause', () => {
    const cause = new Error('HTTP 401');
    const error = new AgentError('device_deleted', 'gone', { cause });
    expect(error).toMatchObject({ code: 'device_deleted', exitCode: 3, cause });
  });
});
