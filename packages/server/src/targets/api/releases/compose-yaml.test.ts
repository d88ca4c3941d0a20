import { describe, expect, it } from 'vitest';
import { parseComposeYaml } from './compose-yaml.js';

function read(source: string) {
  const result = parseComposeYaml(source);
  if (Array.isArray(result)) throw new Error(JSON.stringify(result));
  return result;
}

function errors(source: string) {
  const result = parseComposeYaml(source);
  if (!Array.isArray(result)) throw new Error('expected errors');
  return result;
}

describe('parseComposeYaml', () => {
  it('reads YAML 1.2 as compose does: on and no stay strings, merge keys apply', () => {
    const { value } = read('base: &b\n  restart: "no"\nweb:\n  <<: *b\n  tty: true\n  label: on\n');
    expect(value).toEqual({
      base: { restart: 'no' },
      web: { restart: 'no', tty: true, label: 'on' },
    });
  });

  it('finds the line of a path, or of its deepest existing part', () => {
    const yaml = read('services:\n  web:\n    image: x\n    ports:\n      - 80\n      - 443\n');
    expect(yaml.lineOf(['services', 'web', 'image'])).toBe(3);
    expect(yaml.lineOf(['services', 'web', 'ports', 1])).toBe(6);
    expect(yaml.lineOf(['services', 'web', 'missing'])).toBe(2);
    expect(yaml.lineOf([])).toBe(1);
  });

  it('names the line of a syntax error', () => {
    expect(errors('services:\n  web: [\n')).toEqual([
      { field: '/body/compose_yaml', message: expect.stringMatching(/^line \d+, column \d+: /) },
    ]);
    expect(errors('a: 1\na: 2\n')[0]?.message).toBe('line 2, column 1: Map keys must be unique');
  });

  it('refuses unknown tags, several documents and undefined or runaway aliases', () => {
    expect(errors('a: !reset x\n')[0]?.message).toMatch(/^line 1, column 4: .*tag/i);
    expect(errors('a: 1\n---\nb: 2\n')[0]?.message).toMatch(/^line 2/);
    expect(errors('a: *nope\n')[0]?.message).toMatch(/nope/);
    const laughs = ['a: &a [x, x, x, x, x, x, x, x, x, x]'];
    for (let level = 1; level < 9; level++) {
      const previous = String.fromCharCode(96 + level);
      const next = String.fromCharCode(97 + level);
      laughs.push(`${next}: &${next} [${Array(10).fill(`*${previous}`).join(', ')}]`);
    }
    expect(errors(laughs.join('\n'))[0]?.message).toMatch(/alias/i);
  });

  it('reads an empty document as null', () => {
    expect(read('# nothing\n').value).toBeNull();
  });
});
