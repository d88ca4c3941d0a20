import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseCompose } from './parse-compose.js';

const digest = fc
  .uint8Array({ minLength: 32, maxLength: 32 })
  .map(
    (bytes) => `sha256:${[...bytes].map((byte) => byte.toString(16).padStart(2, '0')).join('')}`,
  );
const image = fc
  .tuple(
    fc.constantFrom('nginx', 'ghcr.io/acme/web', 'localhost:5000/a/b'),
    fc.option(fc.constantFrom('1', 'v2.3', 'latest')),
    digest,
  )
  .map(([name, tag, pinned]) => `${name}${tag === null ? '' : `:${tag}`}@${pinned}`);
const name = fc.stringMatching(/^[a-z][a-z0-9_-]{0,8}$/);
const envKey = fc.stringMatching(/^[A-Z_]{1,6}$/);
const labelKey = fc.stringMatching(/^[a-z.]{1,8}$/);
// Well-formed text without NUL, which PostgreSQL cannot store, or `$`, which asks for interpolation.
const plain = fc
  .string({ unit: 'grapheme' })
  .filter((value) => !value.includes('$') && !value.includes('\u0000'));
const envValue = fc.oneof(plain, fc.integer(), fc.boolean(), fc.constant(null));

/** Files that should pass, written in the many equivalent ways compose allows. */
const validCompose = fc.uniqueArray(name, { minLength: 1, maxLength: 4 }).chain((names) =>
  fc.record(
    {
      version: fc.constant('3.8'),
      services: fc
        .tuple(
          ...names.map((service, index) =>
            fc
              .record(
                {
                  image,
                  environment: fc.oneof(
                    fc.dictionary(envKey, envValue),
                    fc.uniqueArray(envKey).map((keys) => keys.map((key) => `${key}=v`)),
                  ),
                  ports: fc.array(
                    fc.oneof(fc.integer({ min: 1, max: 65535 }), fc.constant('8080:80/udp')),
                  ),
                  restart: fc.constantFrom('no', 'always', 'on-failure:3', 'unless-stopped'),
                  depends_on: fc.subarray(names.slice(0, index)),
                  labels: fc.dictionary(labelKey, plain),
                },
                { requiredKeys: ['image'] },
              )
              .map((definition) => [service, definition] as const),
          ),
        )
        .map((entries) => Object.fromEntries(entries)),
    },
    { requiredKeys: ['services'] },
  ),
);

describe('parseCompose properties', () => {
  it('accepts every valid file and normalises it to a fixed point', () => {
    fc.assert(
      fc.property(validCompose, (input) => {
        const first = parseCompose(input);
        expect(first.ok, JSON.stringify(first)).toBe(true);
        if (!first.ok) return;
        expect(first.compose).not.toHaveProperty('version');
        const second = parseCompose(JSON.parse(JSON.stringify(first.compose)));
        expect(second).toEqual(first);
      }),
    );
  });

  it('never throws, and reports issues with a message on anything else', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.jsonValue(), fc.anything(), fc.record({ services: fc.jsonValue() })),
        (input) => {
          const result = parseCompose(input);
          if (!result.ok) {
            expect(result.issues.length).toBeGreaterThan(0);
            for (const issue of result.issues) expect(issue.message).not.toBe('');
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});
