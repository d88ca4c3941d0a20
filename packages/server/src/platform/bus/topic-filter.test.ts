import { describe, expect, it } from 'vitest';
import { parseShare } from './shared-subscriptions.js';
import { matchesTopicFilter, topicFilterProblem, topicNameProblem } from './topic-filter.js';

describe('matchesTopicFilter', () => {
  it.each([
    ['a/b', 'a/b', true],
    ['a/b', 'a/c', false],
    ['a/b', 'a/b/c', false],
    ['a/b/c', 'a/b', false],
    ['a/+', 'a/b', true],
    ['a/+', 'a/', true],
    ['a/+', 'a', false],
    ['a/+', 'a/b/c', false],
    ['+/b', 'a/b', true],
    ['+/+', '/b', true],
    ['+', 'a', true],
    ['+', 'a/b', false],
    ['a/+/c', 'a/b/c', true],
    ['a/+/c', 'a/b/d', false],
    ['#', 'a', true],
    ['#', 'a/b/c', true],
    ['#', '/', true],
    ['a/#', 'a', true],
    ['a/#', 'a/b', true],
    ['a/#', 'a/b/c', true],
    ['a/#', 'ab', false],
    ['a/#', 'b/a', false],
    ['a/+/#', 'a/b', true],
    ['a/+/#', 'a', false],
    ['A/b', 'a/b', false],
    ['#', '$SYS/broker', false],
    ['+/broker', '$SYS/broker', false],
    ['$SYS/#', '$SYS/broker', true],
    ['$SYS/+', '$SYS/broker', true],
  ])('%s matches %s: %s', (filter, topic, expected) => {
    expect(matchesTopicFilter(filter, topic)).toBe(expected);
  });
});

describe('topicFilterProblem', () => {
  it.each(['a', 'a/b', '+', '#', 'a/+/c', 'a/#', '+/+/#', '/', '$SYS/#'])(
    'accepts %s',
    (filter) => {
      expect(topicFilterProblem(filter)).toBeUndefined();
    },
  );

  it.each(['', 'a/#/b', '#/a', 'a+', 'a/b#', 'a/+b/c'])('refuses %s', (filter) => {
    expect(topicFilterProblem(filter)).toBeDefined();
  });
});

describe('topicNameProblem', () => {
  it('accepts a plain topic and refuses wildcards and the empty topic', () => {
    expect(topicNameProblem('devices/d1/state')).toBeUndefined();
    expect(topicNameProblem('')).toBeDefined();
    expect(topicNameProblem('a/+')).toBeDefined();
    expect(topicNameProblem('a/#')).toBeDefined();
  });
});

describe('parseShare', () => {
  it('splits a shared subscription into group and filter', () => {
    expect(parseShare('$share/workers/devices/+/state')).toEqual({
      group: 'workers',
      filter: 'devices/+/state',
    });
    expect(parseShare('$share/g/#')).toEqual({ group: 'g', filter: '#' });
  });

  it.each([
    'devices/#',
    '$share/',
    '$share/g',
    '$share//a',
    '$share/g/',
    '$share/+/a',
    '$share/g/a/#/b',
  ])('refuses %s', (topic) => {
    expect(parseShare(topic)).toBeUndefined();
  });
});
