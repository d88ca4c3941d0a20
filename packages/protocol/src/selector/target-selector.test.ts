import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type SelectableDevice,
  type TargetSelector,
  compileSelector,
  selectorProblems,
} from './target-selector.js';

const device = (overrides: Partial<SelectableDevice> = {}): SelectableDevice => ({
  labels: { env: 'prod', region: 'eu' },
  attributes: { hw_rev: 3, site: 'berlin', gps: true },
  segment: 'early',
  running_version: 4,
  ...overrides,
});
const matches = (selector: TargetSelector, target = device()) => compileSelector(selector)(target);

describe('compileSelector', () => {
  it('matches everything when empty', () => {
    expect(matches({})).toBe(true);
    expect(
      matches({}, device({ labels: {}, attributes: {}, segment: null, running_version: null })),
    ).toBe(true);
  });

  it('ANDs labels, attributes, versions and segments', () => {
    const all: TargetSelector = {
      labels: 'env=prod,region in (eu,us)',
      attributes: { hw_rev: 3, site: { in: ['berlin', 'paris'] } },
      versions: { min: 2, max: 4 },
      segments: ['canary', 'early'],
    };
    expect(matches(all)).toBe(true);
    expect(matches(all, device({ labels: { env: 'dev', region: 'eu' } }))).toBe(false);
    expect(matches(all, device({ attributes: { hw_rev: 2, site: 'berlin' } }))).toBe(false);
    expect(matches(all, device({ running_version: 5 }))).toBe(false);
    expect(matches(all, device({ segment: 'general' }))).toBe(false);
  });

  it('compares attributes without type conversion and needs them present', () => {
    expect(matches({ attributes: { hw_rev: '3' } })).toBe(false);
    expect(matches({ attributes: { gps: true } })).toBe(true);
    expect(matches({ attributes: { missing: { in: ['x'] } } })).toBe(false);
    expect(matches({ attributes: { toString: 'x' } }, device({ attributes: {} }))).toBe(false);
  });

  it('bounds versions inclusively and leaves unknown versions out unless asked', () => {
    expect(matches({ versions: { min: 4 } })).toBe(true);
    expect(matches({ versions: { max: 4 } })).toBe(true);
    expect(matches({ versions: { min: 5 } })).toBe(false);
    expect(matches({ versions: {} }, device({ running_version: null }))).toBe(false);
    expect(
      matches({ versions: { min: 9, include_unknown: true } }, device({ running_version: null })),
    ).toBe(true);
  });

  it('never matches a segment filter for a device without a segment', () => {
    expect(matches({ segments: ['early'] }, device({ segment: null }))).toBe(false);
  });

  it('is the same predicate however often it is applied (pure)', () => {
    const predicate = compileSelector({ labels: 'env', segments: ['early'] });
    fc.assert(
      fc.property(
        fc.dictionary(fc.constantFrom('env', 'region'), fc.constantFrom('a', 'b')),
        (labels) => {
          const target = device({ labels });
          expect(predicate(target)).toBe(predicate(target));
          expect(predicate(target)).toBe(Object.hasOwn(labels, 'env'));
        },
      ),
    );
  });
});

describe('selectorProblems', () => {
  it('names the label selector column', () => {
    expect(selectorProblems({ labels: 'env in prod' }, '/body/selector')).toEqual([
      {
        field: '/body/selector/labels',
        message: 'column 8: expected "(" after "in", found "prod"',
      },
    ]);
  });

  it('checks attribute conditions and version bounds', () => {
    expect(
      selectorProblems(
        {
          attributes: { ok: 1, nested: { a: 1 }, empty: { in: [] }, list: [1], '': 'x' },
          versions: { min: 2, max: 1 },
        },
        '/s',
      ),
    ).toEqual([
      {
        field: '/s/attributes/nested',
        message: 'must be a string, number or boolean, or { "in": [1 to 100 of them] }',
      },
      {
        field: '/s/attributes/empty',
        message: 'must be a string, number or boolean, or { "in": [1 to 100 of them] }',
      },
      {
        field: '/s/attributes/list',
        message: 'must be a string, number or boolean, or { "in": [1 to 100 of them] }',
      },
      { field: '/s/attributes/', message: 'attribute names have 1 to 128 characters' },
      { field: '/s/versions/max', message: 'must be at least min (2)' },
    ]);
    expect(selectorProblems({ attributes: { a: { in: ['x', 1, false] } } }, '/s')).toEqual([]);
  });
});
