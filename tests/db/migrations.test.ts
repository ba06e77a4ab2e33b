import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { join, relative } from 'node:path'
import { promisify } from 'node:util'
import { sql } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { selectRows } from '#src/db/client.js'
import { findPendingMigrations, MIGRATIONS_FOLDER, runMigrations } from '#src/db/migrate.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { PROJECT_ROOT } from '../helpers/process.js'

const run = promisify(execFile)

describe('drizzle/ migrations', () => {
  it('match the Drizzle schema: generating from the schema produces no new migration', async () => {
    // drizzle-kit resolves --out relative to the working directory (it mangles absolute paths).
    mkdirSync(join(PROJECT_ROOT, '.data'), { recursive: true })
    const out = relative(PROJECT_ROOT, mkdtempSync(join(PROJECT_ROOT, '.data', 'migration-check-')))
    try {
      cpSync(MIGRATIONS_FOLDER, join(PROJECT_ROOT, out), { recursive: true })
      const before = readdirSync(join(PROJECT_ROOT, out)).sort()
      const { stdout, stderr } = await run(process.execPath, [
        join(PROJECT_ROOT, 'node_modules/drizzle-kit/bin.cjs'), 'generate',
        '--dialect', 'postgresql', '--schema', './src/db/schema.ts', '--out', out,
      ], { cwd: PROJECT_ROOT })
      const after = readdirSync(join(PROJECT_ROOT, out)).sort()
      expect(after, `the schema changed without a migration; run npm run db:generate\n${stdout}`).toEqual(before)
      expect(`${stdout}${stderr}`).toContain('No schema changes')
    } finally {
      rmSync(join(PROJECT_ROOT, out), { recursive: true, force: true })
    }
  })

  describe('runMigrations', () => {
    let database: TestDatabase
    beforeAll(async () => { database = await createTestDatabase() })
    afterAll(async () => { await database.drop() })

    it('leaves nothing pending and is safe to run again', async () => {
      expect(await findPendingMigrations(database.handle)).toEqual([])
      await runMigrations(database.handle, database.url)
      expect(await findPendingMigrations(database.handle)).toEqual([])
      const [count] = await selectRows<{ count: number }>(database.handle.db,
        sql`SELECT count(*)::int AS count FROM drizzle.__drizzle_migrations`)
      expect(count?.count).toBe(readdirSync(MIGRATIONS_FOLDER).filter((name) => name.endsWith('.sql')).length)
    })

    it.each([
      ['paddle_inbox', ['payload']],
      ['transactions', ['payments', 'items']],
    ])('leaves %s a small ANALYZE sample, and %j out of it (the worker analyzes it often)', async (table, unsampled) => {
      const targets = await selectRows<{ column: string, target: number }>(database.handle.db, sql`
        SELECT attname AS column, attstattarget::int AS target FROM pg_attribute
        WHERE attrelid = ${table}::regclass AND attnum > 0 AND NOT attisdropped`)
      expect(targets.length).toBeGreaterThan(10)
      for (const { column, target } of targets) expect(target, column).toBe(unsampled.includes(column) ? 0 : 10)
    })
  })
})
