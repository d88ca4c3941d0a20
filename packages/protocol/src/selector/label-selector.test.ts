import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { labelKeyProblem, labelValueProblem } from './label-rules.js';
import { LabelSelectorSyntaxError, matchesLabels, parseLabelSelector } from './label-selector.js';

describe('parseLabelSelector', () => {
  it('parses every kind of requirement', () => {
    expect(parseLabelSelector('env=prod,region in (eu,us),!legacy,tier!=gold,gpu')).toEqual([
      { key: 'env', op: 'eq', value: 'prod' },
      { key: 'region', op: 'in', values: ['eu', 'us'] },
      { key: 'legacy', op: 'not_exists' },
      { key: 'tier', op: 'neq', value: 'gold' },
      { key: 'gpu', op: 'exists' },
    ]);
  });

  it('accepts ==, notin, prefixed keys, empty values and spaces anywhere between tokens', () => {
    expect(
      parseLabelSelector('  flock.dev/site == berlin-1 , zone notin ( a , b.c ) , note= , ! old '),
    ).toEqual([
      { key: 'flock.dev/site', op: 'eq', value: 'berlin-1' },
      { key: 'zone', op: 'notin', values: ['a', 'b.c'] },
      { key: 'note', op: 'eq', value: '' },
      { key: 'old', op: 'not_exists' },
    ]);
  });

  it('treats the empty and the blank selector as matching everything', () => {
    expect(parseLabelSelector('')).toEqual([]);
    expect(parseLabelSelector('   ')).toEqual([]);
  });

  it.each([
    [',env', 0, 'expected a label key at the start, found ","'],
    ['env=prod,', 9, 'expected a requirement after ","'],
    ['env=prod,,x', 9, 'expected a label key after ",", found ","'],
    [
      'env prod',
      4,
      'expected "=", "==", "!=", "in", "notin", "," or the end after key "env", found "prod"',
    ],
    ['region in eu', 10, 'expected "(" after "in", found "eu"'],
    ['region in (eu us)', 14, 'expected "," or ")" in the value set, found "us"'],
    ['region in (eu,', 14, 'expected a value after ",", found the end'],
    ['region in ()', 11, 'expected a value after "in (", found ")"'],
    ['region notin (eu', 16, 'expected "," or ")" in the value set, found the end'],
    [
      '!legacy=1',
      7,
      '"!legacy" selects devices without the key and takes no operator or value; found "="',
    ],
    ['!', 1, 'expected a label key after "!", found the end'],
    ['env=prod)', 8, 'expected "," or the end after a requirement, found ")"'],
    [
      '-bad=1',
      0,
      'label key "-bad" must start and end with a letter or digit and contain only letters, digits, "-", "_" and "."',
    ],
    [
      'env=pr*d',
      4,
      'label value "pr*d" must start and end with a letter or digit and contain only letters, digits, "-", "_" and "."',
    ],
    [
      'Flock.dev/x',
      0,
      'the prefix of label key "Flock.dev/x" must be a DNS subdomain (lowercase letters, digits, "-" and "."), at most 253 characters',
    ],
    ['a/', 0, 'label key "a/" needs a name'],
    [`k=${'v'.repeat(64)}`, 2, `label value "${'v'.repeat(64)}" is longer than 63 characters`],
  ])('refuses %j at column %i+1: %s', (text, offset, reason) => {
    let caught: unknown;
    try {
      parseLabelSelector(text);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LabelSelectorSyntaxError);
    const error = caught as LabelSelectorSyntaxError;
    expect({ reason: error.reason, offset: error.offset }).toEqual({ reason, offset });
    expect(error.message).toBe(`column ${offset + 1}: ${reason}`);
  });

  it('refuses overlong selectors', () => {
    expect(() => parseLabelSelector(`a${',a'.repeat(3000)}`)).toThrow(/longer than 4096/);
  });

  it('never throws anything but its syntax error', () => {
    fc.assert(
      fc.property(
        fc.string({
          unit: fc.constantFrom('a', 'b', '=', '!', ',', '(', ')', ' ', 'in', 'notin', '/', '.'),
        }),
        (text) => {
          try {
            parseLabelSelector(text);
          } catch (error) {
            expect(error).toBeInstanceOf(LabelSelectorSyntaxError);
          }
        },
      ),
    );
  });
});

describe('matchesLabels', () => {
  const device = { env: 'prod', region: 'eu', tier: 'silver', gpu: '' };
  const matches = (selector: string, labels: Record<string, string> = device) =>
    matchesLabels(parseLabelSelector(selector), labels);

  it('ANDs requirements', () => {
    expect(matches('env=prod,region in (eu,us),!legacy,tier!=gold,gpu')).toBe(true);
    expect(matches('env=prod,region in (us)')).toBe(false);
    expect(matches('')).toBe(true);
  });

  it('matches != and notin on devices without the key, as Kubernetes does', () => {
    expect(matches('owner!=alice')).toBe(true);
    expect(matches('owner notin (alice)')).toBe(true);
    expect(matches('owner in (alice)')).toBe(false);
    expect(matches('owner=')).toBe(false);
    expect(matches('gpu=')).toBe(true);
  });

  it('handles each operator', () => {
    expect(matches('env')).toBe(true);
    expect(matches('!env')).toBe(false);
    expect(matches('env==prod')).toBe(true);
    expect(matches('env!=prod')).toBe(false);
    expect(matches('region notin (eu)')).toBe(false);
  });

  it('does not see inherited properties as labels', () => {
    expect(matches('constructor', {})).toBe(false);
    expect(matches('!toString', {})).toBe(true);
  });
});

describe('label rules', () => {
  it('accepts Kubernetes-shaped keys and values', () => {
    expect(labelKeyProblem('app.kubernetes.io/name')).toBeUndefined();
    expect(labelKeyProblem('a')).toBeUndefined();
    expect(labelValueProblem('')).toBeUndefined();
    expect(labelValueProblem('v1.2_3-x')).toBeUndefined();
    expect(labelKeyProblem('a/b/c')).toMatch(/must start and end/);
    expect(labelKeyProblem('x'.repeat(64))).toMatch(/longer than 63/);
  });
});
