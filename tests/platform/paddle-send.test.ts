import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_API_TOKEN, TEST_WEBHOOK_SECRET } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { readFixture } from '../helpers/paddle.js'
import { baseEnv, PROJECT_ROOT, spawnService, type ServiceProcess } from '../helpers/process.js'

interface ToolRun { code: number | null, stdout: string, stderr: string }

/** One line per event: type, event id, HTTP status, body. */
const EVENT_LINE = /^(\S+)\s+(evt_[a-z0-9]+)\s+(\d{3})\s+(.*)$/gm

describe('npm run paddle:send', () => {
  let database: TestDatabase
  let pgliteDir: string
  let service: ServiceProcess
  let port: number

  beforeAll(async () => {
    database = await createTestDatabase()
    pgliteDir = mkdtempSync(join(tmpdir(), 'billing-paddle-send-'))
    service = spawnService('src/server.ts', {
      PORT: '0',
      HOST: '127.0.0.1',
      PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET,
      INTERNAL_API_TOKENS: TEST_API_TOKEN,
      ...(database.url === undefined ? { PGLITE_DIR: pgliteDir } : { DATABASE_URL: database.url }),
    })
    port = await service.listening
  })
  afterAll(async () => {
    if (service !== undefined && service.child.exitCode === null) {
      service.child.kill('SIGTERM')
      await service.exited
    }
    await database?.drop()
    rmSync(pgliteDir, { recursive: true, force: true })
  })

  /** Runs the tool as `npm run paddle:send` would, with the service's secret and port in its environment. */
  async function paddleSend (...args: string[]): Promise<ToolRun> {
    return await new Promise((resolve) => {
      execFile(process.execPath, ['--import', 'tsx', 'scripts/paddle-send.ts', ...args], {
        cwd: PROJECT_ROOT,
        env: { ...baseEnv(), PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET, PORT: String(port) },
      }, (error, stdout, stderr) => {
        resolve({ code: error === null ? 0 : (typeof error.code === 'number' ? error.code : null), stdout, stderr })
      })
    })
  }

  const eventLines = (stdout: string) => [...stdout.matchAll(EVENT_LINE)].map(([, type, eventId, status, body]) => ({ type, eventId, status, body }))

  it('sends one genuine event of a type, signed, to the default URL, and prints a 200 line', async () => {
    const run = await paddleSend('subscription.created')
    expect(run.code, run.stderr).toBe(0)
    const lines = eventLines(run.stdout)
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatchObject({ type: 'subscription.created', status: '200' })
    expect(JSON.parse(lines[0]?.body ?? '')).toEqual({ received: true, duplicate: false })
    // A fresh event id, not the fixture's own.
    expect(lines[0]?.eventId).not.toBe(readFixture('subscription.created.json').event_id)
  })

  it('plays the whole checkout and the account is then entitled to the printed subscription', async () => {
    const account = `acc_send_${Date.now()}`
    const run = await paddleSend('--scenario', 'checkout', '--account', account, '--url', `http://127.0.0.1:${port}/webhooks/paddle`)
    expect(run.code, run.stderr).toBe(0)
    const lines = eventLines(run.stdout)
    expect(lines.map((line) => line.type)).toEqual([
      'transaction.created', 'customer.created', 'address.created', 'transaction.updated', 'transaction.ready', 'transaction.paid',
      'transaction.updated', 'subscription.activated', 'subscription.created', 'transaction.updated', 'transaction.updated', 'transaction.completed',
    ])
    for (const line of lines) expect(line.status, `${line.type} ${line.body}`).toBe('200')
    expect(new Set(lines.map((line) => line.eventId)).size).toBe(12)

    const subscriptionId = /^subscription\s+(sub_[a-z0-9]+)$/m.exec(run.stdout)?.[1]
    expect(subscriptionId).toBeDefined()
    expect(subscriptionId).not.toBe(readFixture('checkout-sequence/09-subscription.created.json').data.id)
    expect(run.stdout).toMatch(/^customer\s+ctm_[a-z0-9]+$/m)
    expect(run.stdout).toMatch(new RegExp(`^account\\s+${account}$`, 'm'))
    expect(run.stdout).toContain(`curl -s -H "authorization: Bearer dev-internal-token-NOT-A-SECRET" 'http://127.0.0.1:${port}/internal/accounts/${account}/entitlement'`)

    // The in-process worker applies the events shortly after they are acknowledged.
    let entitlement: { access?: string, reason?: string, subscription?: { id?: string } | null } = {}
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 200))) {
      const response = await fetch(`http://127.0.0.1:${port}/internal/accounts/${account}/entitlement`, {
        headers: { authorization: `Bearer ${TEST_API_TOKEN}` },
      })
      expect(response.status).toBe(200)
      entitlement = await response.json() as typeof entitlement
      if (entitlement.access === 'granted') break
    }
    expect(entitlement).toMatchObject({ access: 'granted', reason: 'active', subscription: { id: subscriptionId } })
  }, 45_000)

  it('refuses an unknown event type, naming it, and sends nothing', async () => {
    const run = await paddleSend('subscription.exploded')
    expect(run.code).not.toBe(0)
    expect(run.stderr).toContain('unknown event type "subscription.exploded"')
    expect(eventLines(run.stdout)).toEqual([])
  })
})
