import type { ComposePath, FieldError } from '@flock/protocol';
import {
  type Document,
  LineCounter,
  type Node,
  YAMLError,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  parseDocument,
} from 'yaml';

/** A compose file read from YAML, with the line each part of it came from. */
export interface YamlCompose {
  value: unknown;
  /** The 1-based line of the deepest node on `path` that the text has. */
  lineOf(path: ComposePath): number | undefined;
}

// Compose files share settings through anchors; a few hundred aliases are
// plenty, and the limit stops a "billion laughs" file from expanding.
const maxAliasCount = 200;

function fieldError(message: string, line?: number, column?: number): FieldError {
  const where =
    line === undefined ? '' : `line ${line}${column === undefined ? '' : `, column ${column}`}: `;
  return { field: '/body/compose_yaml', message: `${where}${message}` };
}

/** The yaml library's message without its own "at line…" suffix and code frame. */
function firstSentence(error: YAMLError): string {
  return (error.message.split('\n')[0] ?? error.message).replace(/ at line \d+, column \d+:?$/, '');
}

/**
 * Reads compose YAML the way docker compose does (YAML 1.2, merge keys,
 * anchors), or answers the field errors that say which line is wrong.
 * Tags compose does not define, duplicate keys and several documents are errors.
 */
export function parseComposeYaml(source: string): YamlCompose | FieldError[] {
  const lineCounter = new LineCounter();
  let document: Document;
  try {
    document = parseDocument(source, {
      lineCounter,
      merge: true,
      uniqueKeys: true,
      prettyErrors: false,
    });
  } catch (error) {
    // Deep nesting can exhaust the parser's stack; that is the input's fault.
    return [
      fieldError(`cannot be parsed: ${error instanceof Error ? error.message : String(error)}`),
    ];
  }
  const problems = [...document.errors, ...document.warnings];
  if (problems.length > 0) {
    return problems.map((problem) => {
      const at = problem.linePos?.[0] ?? lineCounter.linePos(problem.pos[0]);
      return fieldError(firstSentence(problem), at.line, at.col);
    });
  }
  let value: unknown;
  try {
    value = document.toJS({ maxAliasCount });
  } catch (error) {
    // Unresolved or excessive aliases surface only when the document is built.
    return [fieldError(error instanceof Error ? error.message : String(error))];
  }
  return {
    value,
    lineOf(path) {
      let node: unknown = document.contents;
      let offset = (node as Node | null)?.range?.[0];
      for (const key of path) {
        if (isAlias(node)) node = node.resolve(document);
        if (isMap(node)) {
          const pair = node.items.find(
            (item) => isScalar(item.key) && String(item.key.value) === String(key),
          );
          if (pair === undefined) break;
          offset = (pair.key as Node).range?.[0] ?? offset;
          node = pair.value;
        } else if (isSeq(node) && typeof key === 'number') {
          const item: unknown = node.items[key];
          if (item === undefined) break;
          offset = (item as Node).range?.[0] ?? offset;
          node = item;
        } else {
          break;
        }
      }
      return offset === undefined ? undefined : lineCounter.linePos(offset).line;
    },
  };
}
