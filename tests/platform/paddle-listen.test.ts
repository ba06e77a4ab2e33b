/**
 * `npm run paddle:listen` against the local stand-in of Paddle's API: it forwards the events that
 * appear in the log, signed, to a real service on a port, one line each, and only new ones unless told.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import type { AddressInfo } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { paddleInboxTable } from '#src/db/schema.js'
import { inArray } from 'drizzle-orm'
import { TEST_WEBHOOK_SECRET } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { readFixture, type PaddleEvent } from '../helpers/paddle.js'
import { startPaddleStandIn, type PaddleStandIn } from '../helpers/paddle-stand-in.js'
import { baseEnv, PROJECT_ROOT } from '../helpers/process.js'

/** The checkout fixtures are entities of Paddle's event log (no notification id), as GET /events serves them. */
const asLog = (events: PaddleEvent[]): Array<Record<string, unknown>> => events.map((event) => ({ ...event }))
const EVENT_LINE = /^(\S+)\s+(evt_[a-z0-9]+)\s+(\d{3})\s+(.*)$/gm
const CHECKOUT = ['01-transaction.created', '02-customer.created', '03-address.created', '04-transaction.updated', '05-transaction.ready',
  '06-transaction.paid', '07-transaction.updated', '08-subscription.activated', '09-subscription.created', '10-transaction.updated',
  '11-transaction.updated', '12-transaction.completed'].map((name) => readFixture(`checkout-sequence/${name}.json`))

describe('npm run paddle:listen', () => {
  const harness = useHarness({ now: Date.now() })
  let standIn: PaddleStandIn
  let url: string

  beforeAll(async () => {
    standIn = await startPaddleStandIn()
    await harness.testApp.app.listen({ port: 0, host: '127.0.0.1' })
    url = `http://127.0.0.1:${(harness.testApp.app.server.address() as AddressInfo).port}/webhooks/paddle`
  })
  afterAll(async () => { await standIn?.close() })

  function listen (...args: string[]): { child: ChildProcess, output: () => string, exited: Promise<number | null> } {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/paddle-listen.ts', '--url', url, ...args], {
      cwd: PROJECT_ROOT,
      env: { ...baseEnv(), ...standIn.serviceEnv, PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    return { child, output: () => output, exited: new Promise((resolve) => child.on('exit', (code) => resolve(code))) }
  }

  const lines = (text: string) => [...text.matchAll(EVENT_LINE)].map(([, type, eventId, status, body]) => ({ type, eventId, status, body }))
  const stored = async (events: PaddleEvent[]) => await harness.database.handle.db.select({ eventId: paddleInboxTable.eventId, notificationId: paddleInboxTable.notificationId })
    .from(paddleInboxTable).where(inArray(paddleInboxTable.eventId, events.map((event) => event.event_id)))

  it('forwards only what appears after it started, in order, one line each, and the service applies it', async () => {
    standIn.events.push(...asLog(CHECKOUT.slice(0, 4)))
    const listener = listen('--interval', '0.2')
    try {
      for (const deadline = Date.now() + 30_000; !/polling Paddle/.test(listener.output()); await new Promise((resolve) => setTimeout(resolve, 100))) {
        if (Date.now() > deadline) throw new Error(`not listening:\n${listener.output()}`)
      }
      expect(listener.output()).toContain('4 event(s) already in the log are not forwarded')
      standIn.events.push(...asLog(CHECKOUT.slice(4)))
      for (const deadline = Date.now() + 30_000; lines(listener.output()).length < 8; await new Promise((resolve) => setTimeout(resolve, 100))) {
        if (Date.now() > deadline) throw new Error(`not forwarded:\n${listener.output()}`)
      }
    } finally {
      listener.child.kill('SIGINT')
    }
    expect(await listener.exited).toBe(0)
    const forwarded = lines(listener.output())
    expect(forwarded.map((line) => line.eventId)).toEqual(CHECKOUT.slice(4).map((event) => event.event_id))
    for (const line of forwarded) expect(line).toMatchObject({ status: '200', body: '{"received":true,"duplicate":false}' })
    expect(await stored(CHECKOUT.slice(0, 4))).toEqual([])
    expect(await stored(CHECKOUT.slice(4))).toHaveLength(8)
    await harness.loops.worker.drain()
    const subscription = CHECKOUT[8]?.data.id as string
    const response = await harness.testApp.app.inject({ url: `/internal/subscriptions/${subscription}`, headers: { authorization: `Bearer ${harness.testApp.config.INTERNAL_API_TOKENS[0]}` } })
    expect(response.json()).toMatchObject({ id: subscription, status: 'active' })
  }, 90_000)

  it('--from-start --once forwards the whole log; what the service has already is answered as a duplicate', async () => {
    const run = listen('--from-start', '--once')
    expect(await run.exited, run.output()).toBe(0)
    const forwarded = lines(run.output())
    expect(forwarded.map((line) => line.eventId)).toEqual(CHECKOUT.map((event) => event.event_id))
    expect(forwarded.map((line) => JSON.parse(line.body ?? '{}').duplicate)).toEqual([false, false, false, false, ...Array(8).fill(true)])
    // Events of the log, not notifications: stored without a notification id.
    expect((await stored(CHECKOUT)).every((row) => row.notificationId === null)).toBe(true)
  }, 60_000)

  it('refuses to start without PADDLE_API_KEY, naming it', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/paddle-listen.ts', '--once'], {
      cwd: PROJECT_ROOT, env: { ...baseEnv() }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stderr?.on('data', (chunk: Buffer) => { output += chunk.toString('utf8') })
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(2)
    expect(output).toContain('set PADDLE_API_KEY')
  }, 30_000)
})
