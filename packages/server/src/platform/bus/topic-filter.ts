/**
 * MQTT topic filter semantics (MQTT 3.1.1 §4.7): `+` matches exactly one
 * level, `#` matches the parent level and any number of children, and a
 * filter that starts with a wildcard never matches a topic starting with `$`,
 * so `#` does not see `$SYS` or the broker's internal topics.
 */
export function matchesTopicFilter(filter: string, topic: string): boolean {
  if (topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'))) return false;
  const filterLevels = filter.split('/');
  const topicLevels = topic.split('/');
  for (let i = 0; i < filterLevels.length; i++) {
    const level = filterLevels[i];
    if (level === '#') return true;
    if (i >= topicLevels.length) return false;
    if (level !== '+' && level !== topicLevels[i]) return false;
  }
  return filterLevels.length === topicLevels.length;
}

/** Why `filter` is not a valid subscription filter, or undefined when it is. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter === '') return 'a topic filter must not be empty';
  const levels = filter.split('/');
  for (const [index, level] of levels.entries()) {
    if (level === '#' && index !== levels.length - 1)
      return '# must be the last level of a topic filter';
    if (level !== '#' && level !== '+' && /[#+]/.test(level)) {
      return '+ and # must fill a whole level of a topic filter';
    }
  }
  return undefined;
}

/** Why `topic` cannot be published to, or undefined when it can. */
export function topicNameProblem(topic: string): string | undefined {
  if (topic === '') return 'a topic must not be empty';
  if (/[#+]/.test(topic)) return 'a topic to publish to must not contain + or #';
  return undefined;
}
