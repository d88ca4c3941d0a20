import { type Static, type TSchema, Type } from '@sinclair/typebox';

export const defaultListLimit = 50;
export const maxListLimit = 500;

/** `?limit=&cursor=` of every list route. */
export const ListQuery = Type.Object({
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: maxListLimit, default: defaultListLimit }),
  ),
  cursor: Type.Optional(
    Type.String({ minLength: 1, maxLength: 512, description: 'next_cursor of the previous page' }),
  ),
});
export type ListQuery = Static<typeof ListQuery>;

/** One page of a list; `next_cursor` is null on the last page. */
export const ListPage = <T extends TSchema>(item: T) =>
  Type.Object({
    items: Type.Array(item),
    next_cursor: Type.Union([Type.String(), Type.Null()]),
  });
