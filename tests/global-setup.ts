/**
 * Picks the test database once per run, in this order:
 *   1. TEST_DATABASE_URL (CI, and this machine's PostgreSQL): a fresh database the caller created;
 *   2. a PostgreSQL container from testcontainers, when a Docker engine answers;
 *   3. embedded PGlite, so that `npm test` passes on any machine.
 * With PostgreSQL, the chosen database is migrated once and serves as the template that each test
 * file clones into a database of its own (see helpers/database.ts).
 */
import type { TestProject } from 'vitest/node'
import type { TestDatabaseTarget } from './helpers/database-target.js'
import { createDatabase } from '../src/db/client.js'
import { runMigrations } from '../src/db/migrate.js'
import pino from 'pino'

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
      target = { mode: 'pglite', source: 'pglite' }
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
  process.stdout.write(`test database: ${target.source}\n`)
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
