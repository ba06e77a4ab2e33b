import { randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { PGlite } from '@electric-sql/pglite'
import pg from 'pg'
import pino from 'pino'
import { inject } from 'vitest'
import { createDatabase, createPgliteHandle, type DatabaseHandle } from '#src/db/client.js'
import type { PostgresOnlyGroup } from './postgres-only.js'

export interface TestDatabase {
  handle: DatabaseHandle
  /** Connection string of this file's own database; undefined on PGlite. */
  url: string | undefined
  /** True when the tests run against a PostgreSQL server (not embedded PGlite). */
  isPostgres: boolean
  /** Opens another, independent handle on the same database (a second service instance). */
  connect(options?: { poolMax?: number, url?: string }): Promise<DatabaseHandle>
  drop(): Promise<void>
}

export const usesPostgres = (): boolean => inject('testDatabase').mode === 'postgres'

/** `describe.skipIf(skipWithoutPostgres('key'))`: skipped on PGlite; the key names the group and why in postgres-only.ts. */
export const skipWithoutPostgres = (_group: PostgresOnlyGroup): boolean => !usesPostgres()

/** A database of this test file's own, migrated: cloned from the run's template, or an in-memory PGlite. */
export async function createTestDatabase (): Promise<TestDatabase> {
  const target = inject('testDatabase')
  const logger = pino({ level: 'silent' })
  if (target.mode === 'pglite') {
    // The run's migrated database (global-setup.ts): loading it costs about half of an initdb, and no migration runs.
    const client = await PGlite.create({ loadDataDir: new Blob([readFileSync(target.templateFile)]) })
    await client.exec("SET TIME ZONE 'UTC'")
    const handle = createPgliteHandle(client)
    return {
      handle,
      url: undefined,
      isPostgres: false,
      connect: async () => handle,
      drop: async () => { await handle.close() },
    }
  }

  const template = new URL(target.templateUrl)
  const templateName = decodeURIComponent(template.pathname.slice(1))
  const name = `${templateName}_t${randomBytes(6).toString('hex')}`.slice(0, 63)
  await withAdminClient(target.templateUrl, async (admin) => {
    await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${templateName}"`)
  })
  const url = new URL(target.templateUrl)
  url.pathname = `/${name}`
  const handles: DatabaseHandle[] = []
  const connect = async (options: { poolMax?: number, url?: string } = {}): Promise<DatabaseHandle> => {
    const handle = await createDatabase({ databaseUrl: options.url ?? url.toString(), logger, poolMax: options.poolMax ?? 10 })
    handles.push(handle)
    return handle
  }
  const handle = await connect()
  return {
    handle,
    url: url.toString(),
    isPostgres: true,
    connect,
    drop: async () => {
      await Promise.all(handles.map(async (open) => await open.close().catch(() => {})))
      await withAdminClient(target.templateUrl, async (admin) => {
        await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      })
    },
  }
}

/** A connection to the server's maintenance database (a template cannot be cloned while connected to). */
async function withAdminClient (templateUrl: string, run: (client: pg.Client) => Promise<void>): Promise<void> {
  const url = new URL(templateUrl)
  url.pathname = '/postgres'
  const client = new pg.Client({ connectionString: url.toString() })
  await client.connect()
  try {
    // Two files cloning the same template at the same instant can collide; try again shortly.
    for (let attempt = 1; ; attempt += 1) {
      try {
        await run(client)
        return
      } catch (error) {
        if (attempt >= 10 || !String((error as Error).message).includes('being accessed by other users')) throw error
        await new Promise((resolve) => setTimeout(resolve, 100 * attempt))
      }
    }
  } finally {
    await client.end()
  }
}
