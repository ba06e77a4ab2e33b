/**
 * Picks the test database once per run, in this order:
 *   1. TEST_DATABASE_URL (CI, and this machine's PostgreSQL): a fresh database the caller created;
 *   2. a PostgreSQL container from testcontainers, when a Docker engine answers;
 *   3. embedded PGlite, so that `npm test` passes on any machine.
 * With PostgreSQL, the chosen database is migrated once and serves as the template that each test
 * file clones into a database of its own (see helpers/database.ts). With PGlite, one database is
 * created and migrated once and its data directory written to a file, which each test file loads:
 * a fresh PGlite runs initdb, which took most of a PGlite run's time (about 20 s a file on a busy
 * 2-core machine, against about 10 s to load the migrated directory).
 * It says which database the run uses and, when some test groups cannot run on it, names each one and why.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import pino from 'pino'
import type { TestProject } from 'vitest/node'
import type { TestDatabaseTarget } from './helpers/database-target.js'
import { POSTGRES_ONLY } from './helpers/postgres-only.js'
import { clusterUnavailableReason } from './faults/cluster.js'
import { createDatabase, createPgliteHandle } from '../src/db/client.js'
import { runMigrations } from '../src/db/migrate.js'

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabase: TestDatabaseTarget
  }
}

export default async function setup (project: TestProject): Promise<() => Promise<void>> {
  const logger = pino({ level: 'silent' })
  let target: TestDatabaseTarget
  let stopContainer = async (): Promise<void> => {}

  const fromEnv = process.env.TEST_DATABASE_URL
  if (fromEnv !== undefined && fromEnv !== '') {
    target = { mode: 'postgres', templateUrl: fromEnv, source: 'TEST_DATABASE_URL' }
  } else {
    const container = await startPostgresContainer()
    if (container !== null) {
      target = { mode: 'postgres', templateUrl: container.url, source: 'testcontainers' }
      stopContainer = container.stop
    } else {
      const directory = mkdtempSync(join(tmpdir(), 'billing-pglite-template-'))
      target = { mode: 'pglite', source: 'pglite', templateFile: await migratedPgliteTemplate(directory) }
      stopContainer = async () => { rmSync(directory, { recursive: true, force: true }) }
    }
  }

  if (target.mode === 'postgres') {
    const handle = await createDatabase({ databaseUrl: target.templateUrl, logger, poolMax: 2 })
    try {
      await runMigrations(handle, target.templateUrl)
    } finally {
      await handle.close()
    }
  }
  process.stdout.write(`test database: ${target.source}\n${skippedGroups(target)}`)
  project.provide('testDatabase', target)
  return stopContainer
}

async function startPostgresContainer (): Promise<{ url: string, stop: () => Promise<void> } | null> {
  try {
    const { getContainerRuntimeClient } = await import('testcontainers')
    await getContainerRuntimeClient()
  } catch {
    return null // no Docker engine here
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql')
  const container = await new PostgreSqlContainer('postgres:16-alpine').start()
  return { url: container.getConnectionUri(), stop: async () => { await container.stop() } }
}

/** A migrated PGlite database's data directory, as a tar file in `directory`. */
async function migratedPgliteTemplate (directory: string): Promise<string> {
  const client = await PGlite.create()
  try {
    await runMigrations(createPgliteHandle(client))
    const file = join(directory, 'migrated.tar')
    writeFileSync(file, Buffer.from(await (await client.dumpDataDir('none')).arrayBuffer()))
    return file
  } finally {
    await client.close()
  }
}

/** One line per test group this run skips, with the reason; empty when nothing is skipped. */
function skippedGroups (target: TestDatabaseTarget): string {
  const lines: string[] = []
  if (target.mode === 'pglite') {
    for (const { group, why } of Object.values(POSTGRES_ONLY)) lines.push(`${group}: needs PostgreSQL: ${why}`)
  }
  const faults = clusterUnavailableReason()
  if (faults !== null) lines.push(`tests/faults/ (the fault suite, which starts a PostgreSQL cluster of its own): ${faults}`)
  if (lines.length === 0) return ''
  const hint = target.mode === 'pglite' ? ' (set TEST_DATABASE_URL to a PostgreSQL database to run them)' : ''
  return `skipped${hint}:\n${lines.map((line) => `  - ${line}\n`).join('')}`
}
