import { Type } from '@sinclair/typebox';

/**
 * A UUID in its canonical 8-4-4-4-12 form. A pattern rather than
 * `format: 'uuid'`, which also accepts a `urn:uuid:` prefix the database
 * would not.
 */
export const Uuid = Type.String({
  pattern: '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$',
  description: 'A UUID',
});

/** An ISO 8601 date-time with a timezone. */
export const Timestamp = Type.String({ format: 'date-time' });

/**
 * A name people type on the command line and in URLs: letters, digits, dot,
 * dash and underscore, starting with a letter or digit.
 */
export const ResourceName = Type.String({
  minLength: 1,
  maxLength: 64,
  pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$',
  description: 'Letters, digits, ".", "-" and "_", starting with a letter or digit; at most 64',
});
