import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { TEST_API_TOKEN, TEST_WEBHOOK_SECRET } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { readFixture, withFreshEventIds } from '../helpers/paddle.js'
import { spawnService } from '../helpers/process.js'
import { DAY, freshIds, subscriptionEvent } from '../helpers/scenarios.js'

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

  /** Reads the service's database while no service process has it open (PGlite allows one at a time). */
  async function query<Row> (text: string, values: unknown[]): Promise<Row[]> {
    if (database.isPostgres) return await database.handle.query<Row>({ name: `lifecycle_${text.length}_${text.slice(7, 30)}`, text }, values)
    const client = await PGlite.create(pgliteDir)
    try {
      return (await client.query<Row>(text, values)).rows
    } finally {
      await client.close()
    }
  }

  const storedEventIds = async (ids: string[]): Promise<string[]> =>
    (await query<{ event_id: string }>('SELECT event_id FROM paddle_inbox WHERE event_id = ANY($1)', [ids])).map((row) => row.event_id)

  const serviceEnv = (extra: Record<string, string> = {}): Record<string, string> => ({
    PORT: '0',
    HOST: '127.0.0.1',
    PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET,
    INTERNAL_API_TOKENS: TEST_API_TOKEN,
    ...(database.url === undefined ? { PGLITE_DIR: pgliteDir } : { DATABASE_URL: database.url }),
    ...extra,
  })

  const send = async (port: number, body: string): Promise<number> => {
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

  it('on SIGTERM finishes the requests in flight, keeps every acknowledged event and exits 0', async () => {
    const service = spawnService('src/server.ts', serviceEnv())
    const port = await service.listening
    const events = Array.from({ length: 60 }, () => withFreshEventIds(readFixture('transaction.completed.json')))
    // The signal goes out as soon as the first answer arrives, with the other requests still in flight.
    let signalled = false
    const statuses = await Promise.all(events.map(async (event) => {
      const status = await send(port, JSON.stringify(event))
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

  it('on SIGTERM under load leaves nothing half-done: after a restart every acknowledged event is applied and its email events delivered', async () => {
    const received: string[] = []
    const receiver = createServer((request, response) => {
      let body = ''
      request.on('data', (chunk: Buffer) => { body += chunk.toString('utf8') })
      request.on('end', () => {
        received.push((JSON.parse(body) as { idempotencyKey: string }).idempotencyKey)
        setTimeout(() => response.writeHead(200).end(), 5)
      })
    })
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve))
    const env = serviceEnv({
      EMAIL_EVENTS_URL: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/billing`,
      EMAIL_EVENTS_SIGNING_SECRET: `whsec_${Buffer.alloc(32, 3).toString('base64')}`,
      EMAIL_EVENT_MAX_AGE_HOURS: '8760',
    })
    try {
      const subjects = Array.from({ length: 40 }, () => freshIds())
      const events = subjects.flatMap((ids) => [
        subscriptionEvent('subscription.created', ids, { status: 'active', time: 2 }),
        subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY, scheduledChange: { action: 'cancel', effectiveAt: 30 * DAY } }),
        subscriptionEvent('subscription.updated', ids, { status: 'active', time: 2 * DAY, scheduledChange: null }),
      ])
      const first = spawnService('src/server.ts', env)
      const port = await first.listening
      let answered = 0
      const statuses = await Promise.all(events.map(async (event) => {
        const status = await send(port, JSON.stringify(event))
        answered += 1
        if (answered === 40) first.child.kill('SIGTERM') // the rest are in flight, or refused
        return status
      }))
      expect((await first.exited).code, first.output()).toBe(0)
      const acknowledged = events.filter((_, index) => statuses[index] === 200).map((event) => event.event_id)
      expect(acknowledged.length).toBeGreaterThanOrEqual(40)

      // Whatever was acknowledged is there; nothing is claimed and half-applied.
      expect((await storedEventIds(acknowledged)).length).toBe(acknowledged.length)
      const second = spawnService('src/server.ts', env)
      const secondPort = await second.listening
      // Done when the restarted service reports nothing left to apply or to deliver.
      const gauge = (metrics: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? Number.NaN)
      const deadline = Date.now() + 20_000
      for (;;) {
        const metrics = await fetch(`http://127.0.0.1:${secondPort}/metrics`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })
          .then(async (response) => await response.text())
        if (gauge(metrics, 'billing_inbox_depth') === 0 && gauge(metrics, 'billing_email_events_pending') === 0) break
        if (Date.now() > deadline) throw new Error(`still busy after 20 s:\n${metrics.split('\n').filter((line) => line.startsWith('billing_inbox') || line.startsWith('billing_email')).join('\n')}`)
        await new Promise((resolve) => setTimeout(resolve, 100))
      }
      second.child.kill('SIGTERM')
      expect((await second.exited).code, second.output()).toBe(0)

      const rows = await query<{ event_id: string, status: string }>('SELECT event_id, status FROM paddle_inbox WHERE event_id = ANY($1)', [acknowledged])
      expect(rows.filter((row) => row.status !== 'processed')).toEqual([])
      const emails = await query<{ idempotency_key: string, status: string }>(
        'SELECT idempotency_key, status FROM email_events WHERE subscription_id = ANY($1)', [subjects.map((ids) => ids.subscription)])
      expect(emails.filter((row) => row.status !== 'delivered')).toEqual([])
      // Delivered at least once: every key reached the receiver (a repeat is allowed, a loss is not).
      expect(emails.map((row) => row.idempotency_key).filter((key) => !received.includes(key))).toEqual([])
    } finally {
      receiver.closeAllConnections()
      await new Promise((resolve) => receiver.close(resolve))
    }
  }, 90_000)
})
