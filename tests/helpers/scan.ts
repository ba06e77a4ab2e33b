import { sql } from 'drizzle-orm'
import { selectRows, type Database } from '#src/db/client.js'

export interface ColumnHit { table: string, column: string, rows: number }

/** Every column of every table the service owns, read as text and matched against a regular expression. */
export async function scanAllColumns (db: Database, pattern: string): Promise<{ columnsScanned: number, hits: ColumnHit[] }> {
  const columns = await selectRows<{ table_schema: string, table_name: string, column_name: string }>(db, sql`
    SELECT c.table_schema, c.table_name, c.column_name
    FROM information_schema.columns c
    JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
    WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')
    ORDER BY 1, 2, 3`)
  const hits: ColumnHit[] = []
  for (const column of columns) {
    const table = `${quote(column.table_schema)}.${quote(column.table_name)}`
    const [row] = await selectRows<{ count: number }>(db, sql.raw(
      `SELECT count(*)::int AS count FROM ${table} WHERE ${quote(column.column_name)}::text ~ '${pattern.replace(/'/g, "''")}'`))
    if ((row?.count ?? 0) > 0) hits.push({ table, column: column.column_name, rows: row?.count ?? 0 })
  }
  return { columnsScanned: columns.length, hits }
}

function quote (identifier: string): string {
  return `"${identifier.replace(/"/g, '""')}"`
}
