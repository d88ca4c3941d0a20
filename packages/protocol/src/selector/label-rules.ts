/**
 * Label keys and values follow Kubernetes (apimachinery `validation.go`), so
 * selectors people already write for pods work on devices unchanged.
 */

const namePattern = /^[A-Za-z0-9](?:[-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const subdomainPattern = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;
const maxNameLength = 63;
const maxPrefixLength = 253;

/** Why `key` is not a valid label key (`[prefix/]name`), or undefined when it is. */
export function labelKeyProblem(key: string): string | undefined {
  const slash = key.indexOf('/');
  const prefix = slash === -1 ? undefined : key.slice(0, slash);
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (prefix !== undefined) {
    if (prefix.length === 0 || prefix.length > maxPrefixLength || !subdomainPattern.test(prefix)) {
      return `the prefix of label key "${key}" must be a DNS subdomain (lowercase letters, digits, "-" and "."), at most ${maxPrefixLength} characters`;
    }
  }
  if (name.length === 0) return `label key "${key}" needs a name`;
  return nameProblem(name, `label key "${key}"`);
}

/** Why `value` is not a valid label value, or undefined when it is; empty is valid. */
export function labelValueProblem(value: string): string | undefined {
  if (value.length === 0) return undefined;
  return nameProblem(value, `label value "${value}"`);
}

function nameProblem(name: string, what: string): string | undefined {
  if (name.length > maxNameLength) return `${what} is longer than ${maxNameLength} characters`;
  if (!namePattern.test(name)) {
    return `${what} must start and end with a letter or digit and contain only letters, digits, "-", "_" and "."`;
  }
  return undefined;
}
