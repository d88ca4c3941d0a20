import { describe, expect, it } from 'vitest';
import { parseImageReference, pinnedImageProblem } from './image-reference.js';

const digest = `sha256:${'a1'.repeat(32)}`;

describe('parseImageReference', () => {
  it.each([
    ['nginx', { name: 'nginx' }],
    ['nginx:1.27', { name: 'nginx', tag: '1.27' }],
    [`nginx@${digest}`, { name: 'nginx', digest }],
    [`ghcr.io/acme/web:v2@${digest}`, { name: 'ghcr.io/acme/web', tag: 'v2', digest }],
    [`localhost:5000/app@${digest}`, { name: 'localhost:5000/app', digest }],
    [
      'registry.example.com:443/a/b-c__d.e:tag_1',
      { name: 'registry.example.com:443/a/b-c__d.e', tag: 'tag_1' },
    ],
  ])('splits %s', (reference, parts) => {
    expect(parseImageReference(reference)).toEqual(parts);
  });

  it.each([
    '',
    'Nginx',
    'nginx:',
    'nginx@',
    'a//b',
    '-a',
    'a:b:c',
    `nginx@sha256:${'a'.repeat(10)}`,
    'x'.repeat(600),
  ])('refuses %j', (reference) => {
    expect(parseImageReference(reference)).toBeUndefined();
  });
});

describe('pinnedImageProblem', () => {
  it('accepts a sha256 digest, with or without a tag', () => {
    expect(pinnedImageProblem(`nginx@${digest}`)).toBeUndefined();
    expect(pinnedImageProblem(`docker.io/library/nginx:1.27@${digest}`)).toBeUndefined();
  });

  it('refuses a tag or no tag, and says how to pin it', () => {
    expect(pinnedImageProblem('nginx:1.27')).toMatch(
      /^image must be pinned by digest \(…@sha256:…\).*nginx:1\.27@sha256:/,
    );
    expect(pinnedImageProblem('nginx')).toMatch(/pinned by digest.*use nginx@sha256:/);
  });

  it('refuses other digest algorithms and upper-case hex', () => {
    expect(pinnedImageProblem(`nginx@sha512:${'a'.repeat(128)}`)).toMatch(/64 lower-case hex/);
    expect(pinnedImageProblem(`nginx@sha256:${'A'.repeat(64)}`)).toMatch(/64 lower-case hex/);
  });

  it('refuses what is not a reference', () => {
    expect(pinnedImageProblem('not an image')).toMatch(/not a valid image reference/);
  });
});
