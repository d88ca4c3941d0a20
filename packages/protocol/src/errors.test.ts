import { describe, expect, it } from 'vitest';
import { errorCodes, problemType } from './errors.js';

describe('errorCodes', () => {
  it('documents every code with a title, a description and an error status', () => {
    for (const [code, entry] of Object.entries(errorCodes)) {
      expect(entry.title, code).not.toBe('');
      expect(entry.description.length, code).toBeGreaterThan(20);
      expect(entry.status, code).toBeGreaterThanOrEqual(400);
      expect(entry.status, code).toBeLessThan(600);
    }
  });

  it('gives each code a distinct problem type URI', () => {
    const types = Object.keys(errorCodes).map((code) =>
      problemType(code as keyof typeof errorCodes),
    );
    expect(new Set(types).size).toBe(types.length);
  });
});
