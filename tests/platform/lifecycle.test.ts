import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { TEST_API_TOKEN, TEST_WEBHOOK_SECRET } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { readFixture, withFreshEventIds } from '../helpers/paddle.js'
import { spawnService } from '../helpers/process.js'

describe('the service process', () => {
  let database: TestDatabase
  let pgliteDir: string

  beforeAll(async () => {
    database = await createTestDatabase()
    pgliteDir = mkdtempSync(join(tmpdir(), 'billing-lifecycle-'))
  })
  afterAll(async () => {
    await database.drop()
    rmSync(pgliteDir, { recursive: true, force: true })
  })

  async function storedEventIds (ids: string[]): Promise<string[]> {
    if (database.isPostgres) {
      const rows = await database.handle.query<{ event_id: string }>(
        { name: 'lifecycle_stored', text: 'SELECT event_id FROM paddle_inbox WHERE event_id = ANY($1)' }, [ids])
      return rows.map((row) => row.event_id)
    }
    const client = await PGlite.create(pgliteDir)
    try {
      const result = await client.query<{ event_id: string }>('SELECT event_id FROM paddle_inbox WHERE event_id = ANY($1)', [ids])
      return result.rows.map((row) => row.event_id)
    } finally {
      await client.close()
    }
  }

  it('on SIGTERM finishes the requests in flight, keeps every acknowledged event and exits 0', async () => {
    const service = spawnService('src/server.ts', {
      PORT: '0',
      HOST: '127.0.0.1',
      PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET,
      INTERNAL_API_TOKENS: TEST_API_TOKEN,
      ...(database.url === undefined ? { PGLITE_DIR: pgliteDir } : { DATABASE_URL: database.url }),
    })
    const port = await service.listening
    const events = Array.from({ length: 60 }, () => withFreshEventIds(readFixture('transaction.completed.json')))
    const send = async (body: string): Promise<number> => {
      try {
        const response = await fetch(`http://127.0.0.1:${port}/webhooks/paddle`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(TEST_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)) },
          body,
        })
        return response.status
      } catch {
        return 0 // refused: the server had stopped accepting
      }
    }
    // The signal goes out as soon as the first answer arrives, with the other requests still in flight.
    let signalled = false
    const statuses = await Promise.all(events.map(async (event) => {
      const status = await send(JSON.stringify(event))
      if (!signalled) {
        signalled = true
        service.child.kill('SIGTERM')
      }
      return status
    }))
    const { code } = await service.exited
    expect(code, service.output()).toBe(0)
    expect(service.output()).toContain('shut down cleanly')
    for (const status of statuses) expect([0, 200, 503]).toContain(status)

    const acknowledged = events.filter((_, index) => statuses[index] === 200).map((event) => event.event_id)
    expect(acknowledged.length).toBeGreaterThan(0)
    expect((await storedEventIds(acknowledged)).sort()).toEqual(acknowledged.sort())
  })
})
