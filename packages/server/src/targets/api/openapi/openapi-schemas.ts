import { Kind, type TSchema } from '@sinclair/typebox';

/** A JSON value as the OpenAPI document holds it. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

function isSchema(value: unknown): value is TSchema {
  return typeof value === 'object' && value !== null && Kind in value;
}

/**
 * The object schemas a module exports, by export name: they become
 * `components.schemas` and are referenced wherever a route uses them.
 */
export function namedSchemas(module: Record<string, unknown>): Map<object, string> {
  const named = new Map<object, string>();
  for (const name of Object.keys(module).sort()) {
    const value = module[name];
    if (isSchema(value) && value.type === 'object' && !named.has(value)) named.set(value, name);
  }
  return named;
}

/**
 * Turns schemas into the document's JSON, replacing each use of a named
 * schema by a `$ref` and remembering which were referenced. TypeBox already
 * emits JSON Schema 2020-12, OpenAPI 3.1's dialect, so nothing else changes;
 * its symbol-keyed markers are dropped.
 */
export class SchemaConverter {
  private readonly used = new Map<string, object>();

  constructor(private readonly named: ReadonlyMap<object, string>) {}

  convert(schema: unknown, inline = false): Json {
    if (Array.isArray(schema)) return schema.map((item) => this.convert(item));
    if (typeof schema !== 'object' || schema === null) {
      return typeof schema === 'string' || typeof schema === 'number' || typeof schema === 'boolean'
        ? schema
        : null;
    }
    const name = inline ? undefined : this.named.get(schema);
    if (name !== undefined) {
      this.used.set(name, schema);
      return { $ref: `#/components/schemas/${name}` };
    }
    const out: JsonObject = {};
    for (const [key, value] of Object.entries(schema)) {
      if (value !== undefined && typeof value !== 'function') out[key] = this.convert(value);
    }
    return out;
  }

  /** Every named schema referenced so far, and those they reference, by name. */
  components(): JsonObject {
    const done = new Map<string, Json>();
    for (let pending = [...this.used]; pending.length > 0;) {
      for (const [name, schema] of pending) done.set(name, this.convert(schema, true));
      pending = [...this.used].filter(([name]) => !done.has(name));
    }
    return Object.fromEntries([...done].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  }
}
