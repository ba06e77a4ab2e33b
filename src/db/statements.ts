/**
 * Named statements built once from the Drizzle tables, for the paths that run for every event. The
 * query builder costs CPU in this process and, unnamed, a parse and plan in PostgreSQL per call;
 * a named statement is parsed and planned once per connection. The schema stays the one source of
 * truth: column lists and value conversions come from the table definitions.
 *
 * Measured by `npm run bench -- sql-builder` (read FOR UPDATE + versioned upsert, 20,000 events): the
 * builder built per call took 3.4x this process's CPU per event, prepared once 1.26x.
 */
import { getTableColumns, getTableName, type InferSelectModel } from 'drizzle-orm'
import type { PgColumn, PgTable } from 'drizzle-orm/pg-core'
import type { RawStatement } from './client.js'
import { quoteIdentifier as quote } from './handle.js'

/** Columns written by the statements: all but the ones the database fills in itself. */
function writtenColumns (table: PgTable, skip: readonly string[]): Array<[string, PgColumn]> {
  return Object.entries(getTableColumns(table)).filter(([key]) => !skip.includes(key))
}

export interface TableStatements<T extends PgTable> {
  /** The row by primary key `id`, locked for the rest of the transaction. */
  selectForUpdate: RawStatement
  /** The rows whose `id` is in the array $1, locked for the rest of the transaction. */
  selectManyForUpdate: RawStatement
  /**
   * Insert, or update when the stored version is not newer (`version <= excluded.version`): the
   * database refuses to move a row backwards even if a caller's check were wrong.
   */
  upsert: RawStatement
  /** Values for `upsert`, in its column order. */
  values(row: Omit<InferSelectModel<T>, 'rowUpdatedAt'>): unknown[]
  /** A raw result row (snake_case, driver text) as the table's TypeScript row. */
  fromRow(row: Record<string, unknown>): InferSelectModel<T>
}

export function tableStatements<T extends PgTable> (table: T, options: { keepOnUpdate?: string[] } = {}): TableStatements<T> {
  const name = getTableName(table)
  const all = Object.entries(getTableColumns(table))
  const written = writtenColumns(table, ['rowUpdatedAt'])
  const updated = written.filter(([key]) => key !== 'id' && !(options.keepOnUpdate ?? []).includes(key))
  const columnList = written.map(([, column]) => quote(column.name)).join(', ')
  const placeholders = written.map((_, index) => `$${index + 1}`).join(', ')
  const assignments = [...updated.map(([, column]) => `${quote(column.name)} = excluded.${quote(column.name)}`), 'row_updated_at = now()']
  return {
    selectForUpdate: { name: `${name}_select_for_update`, text: `SELECT * FROM ${quote(name)} WHERE id = $1 FOR UPDATE` },
    selectManyForUpdate: { name: `${name}_select_many_for_update`, text: `SELECT * FROM ${quote(name)} WHERE id = ANY($1::text[]) ORDER BY id FOR UPDATE` },
    upsert: {
      name: `${name}_upsert`,
      text: `INSERT INTO ${quote(name)} (${columnList}) VALUES (${placeholders})
        ON CONFLICT (id) DO UPDATE SET ${assignments.join(', ')}
        WHERE ${quote(name)}.version <= excluded.version`,
    },
    values: (row) => written.map(([key, column]) => {
      const value = (row as Record<string, unknown>)[key]
      return value === null || value === undefined ? null : column.mapToDriverValue(value)
    }),
    fromRow: (row) => Object.fromEntries(all.map(([key, column]) => {
      const value = row[column.name]
      return [key, value === null || value === undefined ? null : column.mapFromDriverValue(value)]
    })) as InferSelectModel<T>,
  }
}
