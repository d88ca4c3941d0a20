import { labelKeyProblem, labelValueProblem } from './label-rules.js';

/**
 * One requirement of a Kubernetes label selector. As in Kubernetes, `!=` and
 * `notin` also match devices that lack the key.
 */
export type LabelRequirement =
  | { key: string; op: 'exists' | 'not_exists' }
  | { key: string; op: 'eq' | 'neq'; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] };

/** A selector that does not parse; `offset` is the 0-based index of the offending character. */
export class LabelSelectorSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly offset: number,
  ) {
    super(`column ${offset + 1}: ${reason}`);
    this.name = 'LabelSelectorSyntaxError';
  }
}

type TokenKind = 'word' | '!' | '=' | '==' | '!=' | ',' | '(' | ')' | 'end';
interface Token {
  kind: TokenKind;
  text: string;
  offset: number;
}

const maxSelectorLength = 4096;
const special = new Set(['!', '=', ',', '(', ')']);

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const char = text[i] ?? '';
    if (/\s/.test(char)) {
      i += 1;
    } else if (char === '=' || char === '!') {
      const double = text[i + 1] === '=';
      const kind = double ? (char === '=' ? '==' : '!=') : char;
      tokens.push({ kind, text: kind, offset: i });
      i += double ? 2 : 1;
    } else if (char === ',' || char === '(' || char === ')') {
      tokens.push({ kind: char, text: char, offset: i });
      i += 1;
    } else {
      const start = i;
      while (i < text.length && !special.has(text[i] ?? '') && !/\s/.test(text[i] ?? '')) i += 1;
      tokens.push({ kind: 'word', text: text.slice(start, i), offset: start });
    }
  }
  tokens.push({ kind: 'end', text: '', offset: text.length });
  return tokens;
}

function describe(token: Token): string {
  return token.kind === 'end' ? 'the end' : `"${token.text}"`;
}

/**
 * Parses a Kubernetes label selector: comma-separated requirements, each one
 * of `key`, `!key`, `key=value` (or `==`), `key!=value`, `key in (a,b)` and
 * `key notin (a,b)`. The empty selector has no requirements and matches
 * every device. Throws `LabelSelectorSyntaxError` naming the column.
 */
export function parseLabelSelector(text: string): LabelRequirement[] {
  if (text.length > maxSelectorLength) {
    throw new LabelSelectorSyntaxError(
      `is longer than ${maxSelectorLength} characters`,
      maxSelectorLength,
    );
  }
  const tokens = tokenize(text);
  let at = 0;
  const peek = (): Token => tokens[at] ?? { kind: 'end', text: '', offset: text.length };
  const next = (): Token => {
    const token = peek();
    at += 1;
    return token;
  };
  const word = (what: string, after: string): Token => {
    const token = next();
    if (token.kind !== 'word') {
      throw new LabelSelectorSyntaxError(
        `expected ${what} ${after}, found ${describe(token)}`,
        token.offset,
      );
    }
    return token;
  };
  const key = (after: string): string => {
    const token = word('a label key', after);
    const problem = labelKeyProblem(token.text);
    if (problem !== undefined) throw new LabelSelectorSyntaxError(problem, token.offset);
    return token.text;
  };
  const value = (token: Token): string => {
    const problem = labelValueProblem(token.text);
    if (problem !== undefined) throw new LabelSelectorSyntaxError(problem, token.offset);
    return token.text;
  };
  const endOfRequirement = (): void => {
    const token = peek();
    if (token.kind !== ',' && token.kind !== 'end') {
      throw new LabelSelectorSyntaxError(
        `expected "," or the end after a requirement, found ${describe(token)}`,
        token.offset,
      );
    }
  };

  const requirements: LabelRequirement[] = [];
  if (peek().kind === 'end') return requirements;
  for (;;) {
    const start = peek();
    if (start.kind === '!') {
      next();
      const absent = key('after "!"');
      requirements.push({ key: absent, op: 'not_exists' });
      const operator = peek();
      if (operator.kind !== ',' && operator.kind !== 'end') {
        throw new LabelSelectorSyntaxError(
          `"!${absent}" selects devices without the key and takes no operator or value; found ${describe(operator)}`,
          operator.offset,
        );
      }
    } else {
      const name = key(requirements.length === 0 ? 'at the start' : 'after ","');
      const operator = peek();
      if (operator.kind === '=' || operator.kind === '==' || operator.kind === '!=') {
        next();
        const token = peek();
        // `key=` selects the empty value, as in Kubernetes.
        const text = token.kind === 'word' ? value(next()) : '';
        requirements.push({ key: name, op: operator.kind === '!=' ? 'neq' : 'eq', value: text });
      } else if (
        operator.kind === 'word' &&
        (operator.text === 'in' || operator.text === 'notin')
      ) {
        next();
        requirements.push({ key: name, op: operator.text, values: valueSet(operator.text) });
      } else if (operator.kind === ',' || operator.kind === 'end') {
        requirements.push({ key: name, op: 'exists' });
      } else {
        throw new LabelSelectorSyntaxError(
          `expected "=", "==", "!=", "in", "notin", "," or the end after key "${name}", found ${describe(operator)}`,
          operator.offset,
        );
      }
    }
    endOfRequirement();
    if (next().kind === 'end') return requirements;
    if (peek().kind === 'end') {
      throw new LabelSelectorSyntaxError('expected a requirement after ","', peek().offset);
    }
  }

  function valueSet(operator: string): string[] {
    const open = next();
    if (open.kind !== '(') {
      throw new LabelSelectorSyntaxError(
        `expected "(" after "${operator}", found ${describe(open)}`,
        open.offset,
      );
    }
    const values: string[] = [];
    for (;;) {
      values.push(
        value(word('a value', values.length === 0 ? `after "${operator} ("` : 'after ","')),
      );
      const token = next();
      if (token.kind === ')') return values;
      if (token.kind !== ',') {
        throw new LabelSelectorSyntaxError(
          `expected "," or ")" in the value set, found ${describe(token)}`,
          token.offset,
        );
      }
    }
  }
}

/** Whether labels satisfy every requirement. */
export function matchesLabels(
  requirements: readonly LabelRequirement[],
  labels: Readonly<Record<string, string>>,
): boolean {
  return requirements.every((requirement) => matchesRequirement(requirement, labels));
}

function matchesRequirement(
  requirement: LabelRequirement,
  labels: Readonly<Record<string, string>>,
): boolean {
  const has = Object.hasOwn(labels, requirement.key);
  const actual = has ? labels[requirement.key] : undefined;
  switch (requirement.op) {
    case 'exists':
      return has;
    case 'not_exists':
      return !has;
    case 'eq':
      return actual === requirement.value;
    case 'neq':
      return actual !== requirement.value;
    case 'in':
      return actual !== undefined && requirement.values.includes(actual);
    case 'notin':
      return actual === undefined || !requirement.values.includes(actual);
  }
}
