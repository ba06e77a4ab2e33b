/**
 * `npm run db:migrate` / `node dist/db/migrate.js`, the deploy step: it names the database it migrates
 * (never the password) and says how many migrations it applied, or that none were pending. The built
 * artifact runs it against PostgreSQL in tests/platform/container.test.ts; here the TypeScript entry point
 * runs against an embedded database of its own, which every machine has.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { describeDatabase, MIGRATIONS_FOLDER } from '#src/db/migrate.js'
import { spawnService } from '../helpers/process.js'

const tags = (JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta/_journal.json'), 'utf8')) as { entries: Array<{ tag: string }> })
  .entries.map((entry) => entry.tag)

async function migrate (env: Record<string, string>): Promise<{ code: number | null, output: string }> {
  const child = spawnService('src/db/migrate.ts', env)
  const { code } = await child.exited
  return { code, output: child.output() }
}

describe('describeDatabase', () => {
  it('names host, port and database of a URL, never its user or password', () => {
    const described = describeDatabase('postgres://billing:s3cr%40t-Pa55@db.internal:6543/billing_prod?sslmode=require', '.data/pglite')
    expect(described).toBe('database "billing_prod" on db.internal:6543')
    expect(described).not.toMatch(/s3cr|Pa55|billing:/)
  })

  it('fills in what libpq would: port 5432, the socket folder given as ?host=, the default database', () => {
    expect(describeDatabase('postgresql://billing:pw@10.0.0.5/billing', '.data/pglite')).toBe('database "billing" on 10.0.0.5:5432')
    expect(describeDatabase('postgres:///billing?host=/var/run/postgresql', '.data/pglite')).toBe('database "billing" on /var/run/postgresql:5432')
    expect(describeDatabase('postgres://billing:pw@db.internal', '.data/pglite')).toBe('database (the default) on db.internal:5432')
  })

  it('names the embedded database by its folder', () => {
    expect(describeDatabase(undefined, '/tmp/pglite')).toBe('the embedded PGlite database in /tmp/pglite')
  })
})

describe('the migrate command', () => {
  const folders: string[] = []
  afterAll(() => { for (const folder of folders) rmSync(folder, { recursive: true, force: true }) })

  it('says which database it migrates and how many migrations it applied, then that none are pending', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'billing-migrate-'))
    folders.push(folder)
    const pgliteDir = join(folder, 'pglite')

    const first = await migrate({ PGLITE_DIR: pgliteDir })
    expect(first.code, first.output).toBe(0)
    expect(first.output).toContain(`Migrating the embedded PGlite database in ${pgliteDir}\n`)
    expect(first.output).toContain(`Applied ${tags.length} migrations to the embedded PGlite database in ${pgliteDir}: ${tags.join(', ')}\n`)

    const second = await migrate({ PGLITE_DIR: pgliteDir })
    expect(second.code, second.output).toBe(0)
    expect(second.output).toContain(`No migrations pending: the embedded PGlite database in ${pgliteDir} is at ${tags.at(-1) ?? ''}\n`)
    expect(second.output).not.toContain('Applied')
  }, 60_000)

  it('refuses to guess: without DATABASE_URL (or PGLITE_DIR) it names the variable and exits 1', async () => {
    for (const env of [{}, { NODE_ENV: 'production' }] as Array<Record<string, string>>) {
      const { code, output } = await migrate(env)
      expect(code, output).toBe(1)
      expect(output).toMatch(/^ {2}- DATABASE_URL: is required\b/m)
      expect(output).not.toContain('Migrating')
    }
  })
})
