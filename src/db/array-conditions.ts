/**
 * Conditions on a list of ids sent as one array parameter. drizzle's inArray sends one parameter per
 * value, and PostgreSQL takes at most 65,535 in a statement: use these where the list is unbounded
 * (every subscription Paddle lists, every resync event of a run).
 */
import { sql, type SQL } from 'drizzle-orm'
import type { PgColumn } from 'drizzle-orm/pg-core'

/** `column = ANY($1::text[])` */
export function isAnyOf (column: PgColumn, values: readonly string[]): SQL {
  return sql`${column} = ANY(${sql.param(values)}::text[])`
}

/** `column <> ALL($1::text[])`: true for every row when `values` is empty. */
export function isNoneOf (column: PgColumn, values: readonly string[]): SQL {
  return sql`${column} <> ALL(${sql.param(values)}::text[])`
}
