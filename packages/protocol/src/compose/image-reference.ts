/** An image reference split into its parts, as the distribution reference grammar has them. */
export interface ImageReference {
  /** Registry host and repository path: `ghcr.io/acme/web`, `nginx`. */
  name: string;
  tag?: string;
  /** `sha256:<64 hex>`; absent when the reference is not pinned. */
  digest?: string;
}

// The grammar of github.com/distribution/reference (reference.go): a domain
// is a host[:port] that the first path component may be mistaken for, path
// components are lower-case, tags are at most 128 characters.
const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domain = `(?:${domainComponent}(?:\\.${domainComponent})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?`;
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const name = `(?:${domain}/)?${pathComponent}(?:/${pathComponent})*`;
const tag = '[\\w][\\w.-]{0,127}';
const digest = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9A-Za-z=_+.-]{32,}';
const reference = new RegExp(`^(${name})(?::(${tag}))?(?:@(${digest}))?$`);
const nameMaxLength = 255;

/** The digest Flock requires: sha256 in lower-case hex, as registries report it. */
export const imageDigestPattern = /^sha256:[a-f0-9]{64}$/;

/** Splits a reference, or undefined when it is not one. */
export function parseImageReference(value: string): ImageReference | undefined {
  if (value.length > 2 * nameMaxLength) return undefined;
  const match = reference.exec(value);
  if (match === null) return undefined;
  const [, repository, version, pinned] = match;
  if (repository === undefined || repository.length > nameMaxLength) return undefined;
  return {
    name: repository,
    ...(version === undefined ? {} : { tag: version }),
    ...(pinned === undefined ? {} : { digest: pinned }),
  };
}

/**
 * Why `value` cannot be a release's image, or undefined when it can. A release
 * is immutable, so its images must be too: a tag can be moved to other
 * content, a digest cannot.
 */
export function pinnedImageProblem(value: string): string | undefined {
  const parsed = parseImageReference(value);
  if (parsed === undefined) {
    return 'is not a valid image reference (name[:tag]@sha256:<64 hex digits>, lower-case repository)';
  }
  if (parsed.digest === undefined) {
    return `image must be pinned by digest (…@sha256:…): ${value} names a tag, which can move; use ${parsed.name}${parsed.tag === undefined ? '' : `:${parsed.tag}`}@sha256:<64 hex digits>`;
  }
  if (!imageDigestPattern.test(parsed.digest)) {
    return 'image must be pinned by digest (…@sha256:…): the digest must be sha256: followed by 64 lower-case hex digits';
  }
  return undefined;
}
