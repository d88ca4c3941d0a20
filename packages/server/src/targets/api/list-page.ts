import { defaultListLimit } from '@flock/protocol';
import { HttpProblem } from '../../platform/http/problem.js';

/**
 * Keyset pagination: a cursor is the sort key of the last item shown,
 * base64url-encoded JSON, opaque to clients. Queries fetch one row more than
 * the limit to learn whether a next page exists.
 */
export function listPage<Row, Item>(
  rows: readonly Row[],
  limit: number,
  sortKey: (row: Row) => string[],
  toItem: (row: Row) => Item,
): { items: Item[]; next_cursor: string | null } {
  const shown = rows.slice(0, limit);
  const last = shown.at(-1);
  const more = rows.length > limit && last !== undefined;
  return {
    items: shown.map(toItem),
    next_cursor: more ? Buffer.from(JSON.stringify(sortKey(last))).toString('base64url') : null,
  };
}

/** How many items a page shows; fetch one more. */
export function pageSize(limit: number | undefined): number {
  return limit ?? defaultListLimit;
}

/**
 * The sort key a cursor carries, checked by `decode`; a 400 naming `?cursor`
 * when it is not one this list returned.
 */
export function readCursor<Key>(
  cursor: string,
  decode: (values: unknown[]) => Key | undefined,
): Key {
  let key: Key | undefined;
  try {
    const values: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    key = Array.isArray(values) ? decode(values) : undefined;
  } catch {
    key = undefined;
  }
  if (key === undefined) {
    throw new HttpProblem('validation_failed', 'the cursor is not one this list returned', [
      { field: '/query/cursor', message: 'must be a next_cursor from a previous page' },
    ]);
  }
  return key;
}
