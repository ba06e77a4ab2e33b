import { execFile } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_API_TOKEN, TEST_WEBHOOK_SECRET } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { readFixture, type PaddleEvent as FixtureEvent } from '../helpers/paddle.js'
import { checkoutStream, freshIds } from '../helpers/scenarios.js'
import { signPaddlePayload } from '#src/paddle/signature.js'
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
        env: { ...baseEnv(), PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET, INTERNAL_API_TOKENS: TEST_API_TOKEN, PORT: String(port) },
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
    expect(run.stdout).toContain(`curl -s -H "authorization: Bearer \${INTERNAL_API_TOKENS%%,*}" 'http://127.0.0.1:${port}/internal/accounts/${account}/entitlement'`)

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
  // --- Lifecycles on a subscription the service already has -------------------------------------

  const api = async <T = any>(path: string): Promise<T> => {
    const response = await fetch(`http://127.0.0.1:${port}${path}`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })
    expect(response.status, `${path}: ${await response.clone().text()}`).toBe(200)
    return await response.json() as T
  }

  /** Waits until the worker has applied (or set aside) every one of these events. */
  async function applied (eventIds: string[]): Promise<void> {
    for (const deadline = Date.now() + 20_000; ; await new Promise((resolve) => setTimeout(resolve, 200))) {
      const statuses = await Promise.all(eventIds.map(async (eventId) => {
        const response = await fetch(`http://127.0.0.1:${port}/internal/admin/events/${eventId}`, { headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })
        return response.status === 200 ? (await response.json() as { status: string }).status : 'missing'
      }))
      if (statuses.every((status) => status === 'processed' || status === 'ignored')) return
      if (Date.now() > deadline) throw new Error(`not applied in time: ${statuses.join(', ')}`)
    }
  }

  /** Paddle's genuine checkout for a new account: `--scenario checkout` (moved to now), or as it happened in April 2024. */
  async function activeSubscription (when: 'now' | '2024' = 'now'): Promise<{ subscription: string, account: string }> {
    if (when === 'now') return await checkout('checkout', 'active')
    const ids = freshIds()
    const events = checkoutStream(ids)
    for (const event of events) {
      const body = JSON.stringify(event)
      const response = await fetch(`http://127.0.0.1:${port}/webhooks/paddle`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(TEST_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)) },
        body,
      })
      expect(response.status).toBe(200)
    }
    await applied(events.map((event: FixtureEvent) => event.event_id))
    return { subscription: ids.subscription, account: ids.account }
  }

  /** A new subscription, made as a developer would: `--scenario checkout` or `checkout-trial`. */
  async function checkout (scenario: 'checkout' | 'checkout-trial', status: string): Promise<{ subscription: string, account: string }> {
    const account = `acc_${scenario.replace('-', '_')}_${Date.now()}`
    const run = await paddleSend('--scenario', scenario, '--account', account)
    expect(run.code, run.stderr).toBe(0)
    await applied(eventLines(run.stdout).map((line) => line.eventId ?? ''))
    const subscription = /^subscription\s+(sub_[a-z0-9]+)$/m.exec(run.stdout)?.[1] ?? ''
    expect(await api(`/internal/subscriptions/${subscription}`)).toMatchObject({ status, accountId: account })
    return { subscription, account }
  }

  async function trialingSubscription (): Promise<{ subscription: string, account: string }> {
    const subject = await checkout('checkout-trial', 'trialing')
    expect(await api(`/internal/subscriptions/${subject.subscription}`)).toMatchObject({ trialEndsAt: expect.any(String) })
    return subject
  }

  interface Outcome {
    lines: Array<{ type?: string, eventId?: string, status?: string, body?: string }>
    state: { status: string, items: Array<{ priceId: string, quantity: number }>, currentBillingPeriod: { startsAt: string, endsAt: string } | null, scheduledChange: unknown }
    entitlement: { access: string, reason: string }
    emails: Array<{ type: string, data: Record<string, unknown> }>
  }

  /** Plays a lifecycle with the tool, waits for the worker, and reads what it produced. */
  async function play (scenario: string, subject: { subscription: string, account: string }): Promise<Outcome> {
    const run = await paddleSend('--scenario', scenario, '--subscription', subject.subscription)
    expect(run.code, run.stderr + run.stdout).toBe(0)
    const lines = eventLines(run.stdout)
    for (const line of lines) expect(line.status, `${line.type} ${line.body}`).toBe('200')
    await applied(lines.map((line) => line.eventId ?? ''))
    const ours = new Set(lines.map((line) => line.eventId))
    const timeline = await api<{ events: Array<{ eventId: string, outcome: string, emailEvents: Array<{ id: string }> }> }>(`/internal/subscriptions/${subject.subscription}/timeline`)
    // Every event of the lifecycle changed the state: none was older than what the service held.
    for (const event of timeline.events.filter((candidate) => ours.has(candidate.eventId))) expect(event.outcome, event.eventId).toBe('applied')
    const emailIds = new Set(timeline.events.filter((event) => ours.has(event.eventId)).flatMap((event) => event.emailEvents.map((email) => email.id)))
    const feed = await api<{ events: Array<{ id: string, type: string, data: Record<string, unknown> }> }>('/internal/email-events?limit=1000')
    return {
      lines,
      state: await api(`/internal/subscriptions/${subject.subscription}`),
      entitlement: await api(`/internal/accounts/${subject.account}/entitlement`),
      emails: feed.events.filter((event) => emailIds.has(event.id)).map(({ type, data }) => ({ type, data })),
    }
  }

  const types = (outcome: Outcome): string[] => outcome.lines.map((line) => line.type ?? '')
  const emailTypes = (outcome: Outcome): string[] => outcome.emails.map((email) => email.type).sort()

  it('--list names every scenario, one line each', async () => {
    const run = await paddleSend('--list')
    expect(run.code, run.stderr).toBe(0)
    const names = run.stdout.trim().split('\n').map((line) => line.split(/\s+/)[0])
    expect(names).toEqual(['checkout', 'checkout-trial', 'renewal', 'renewal-failed-recovered', 'past-due-canceled', 'pause-resume',
      'cancel-scheduled-removed', 'cancel-effective', 'plan-upgrade', 'plan-downgrade', 'refund', 'trial-to-active', 'trial-expires'])
    for (const line of run.stdout.trim().split('\n')) expect(line.split(/\s{2,}/)[1]?.length ?? 0).toBeGreaterThan(20)
  })

  it('renewal: the next period is billed and collected; still granted, one receipt', async () => {
    const subject = await activeSubscription()
    const before = await api<Outcome['state']>(`/internal/subscriptions/${subject.subscription}`)
    const outcome = await play('renewal', subject)
    expect(types(outcome)).toEqual(['subscription.updated', 'transaction.created', 'transaction.billed', 'transaction.updated',
      'transaction.paid', 'transaction.updated', 'transaction.completed'])
    expect(outcome.state.status).toBe('active')
    // At the end of the stored period, for one more month.
    expect(outcome.state.currentBillingPeriod?.startsAt).toBe(before.currentBillingPeriod?.endsAt)
    expect(outcome.state.items).toEqual(before.items)
    expect(outcome.entitlement).toMatchObject({ access: 'granted', reason: 'active', until: outcome.state.currentBillingPeriod?.endsAt })
    expect(emailTypes(outcome)).toEqual(['payment.succeeded'])
    expect(outcome.emails[0]?.data).toMatchObject({ origin: 'subscription_recurring', totals: { grandTotal: '40000' } })

    // A subscription whose stored period ended long ago (Paddle's checkout of April 2024) renews now:
    // no event may be older than what the service holds, nor so old that its emails are suppressed.
    const old = await play('renewal', await activeSubscription('2024'))
    expect(Date.parse(old.state.currentBillingPeriod?.startsAt ?? '')).toBeGreaterThan(Date.now() - 120_000)
    expect(emailTypes(old)).toEqual(['payment.succeeded'])
  }, 120_000)

  it('renewal-failed-recovered: past due, then recovered: one failure, one recovery, one receipt', async () => {
    const outcome = await play('renewal-failed-recovered', await activeSubscription())
    expect(types(outcome)).toEqual(['subscription.updated', 'transaction.created', 'transaction.billed', 'transaction.payment_failed',
      'transaction.updated', 'transaction.past_due', 'subscription.updated', 'subscription.past_due', 'transaction.updated',
      'transaction.paid', 'subscription.updated', 'transaction.updated', 'transaction.completed'])
    expect(outcome.state.status).toBe('active')
    expect(outcome.entitlement).toMatchObject({ access: 'granted', reason: 'active' })
    expect(emailTypes(outcome)).toEqual(['payment.failed', 'payment.recovered', 'payment.succeeded'])
  }, 90_000)

  it('past-due-canceled: dunning gives up: canceled, denied', async () => {
    const outcome = await play('past-due-canceled', await activeSubscription('2024'))
    expect(types(outcome).slice(-4)).toEqual(['subscription.updated', 'subscription.canceled', 'transaction.updated', 'transaction.canceled'])
    expect(outcome.state.status).toBe('canceled')
    expect(outcome.entitlement).toMatchObject({ access: 'denied', reason: 'canceled' })
    expect(emailTypes(outcome)).toEqual(['payment.failed', 'subscription.canceled'])
  }, 90_000)

  it('pause-resume: paused at the period end, resumed and billed a week later', async () => {
    const outcome = await play('pause-resume', await activeSubscription())
    expect(types(outcome).slice(0, 5)).toEqual(['subscription.updated', 'subscription.updated', 'subscription.paused', 'subscription.updated', 'subscription.resumed'])
    expect(outcome.state).toMatchObject({ status: 'active', scheduledChange: null })
    expect(outcome.entitlement).toMatchObject({ access: 'granted', reason: 'active' })
    expect(emailTypes(outcome)).toEqual(['payment.succeeded', 'subscription.paused', 'subscription.resumed'])
  }, 90_000)

  it('cancel-scheduled-removed: told when scheduled and when removed; still granted', async () => {
    const outcome = await play('cancel-scheduled-removed', await activeSubscription())
    expect(types(outcome)).toEqual(['subscription.updated', 'subscription.updated'])
    expect(outcome.state).toMatchObject({ status: 'active', scheduledChange: null })
    expect(outcome.entitlement).toMatchObject({ access: 'granted', reason: 'active' })
    expect(emailTypes(outcome)).toEqual(['subscription.cancellation_reverted', 'subscription.cancellation_scheduled'])
  }, 90_000)

  it('cancel-effective: scheduled, then canceled at the period end; denied', async () => {
    const outcome = await play('cancel-effective', await activeSubscription())
    expect(types(outcome)).toEqual(['subscription.updated', 'subscription.updated', 'subscription.canceled'])
    expect(outcome.state.status).toBe('canceled')
    expect(outcome.entitlement).toMatchObject({ access: 'denied', reason: 'canceled' })
    expect(emailTypes(outcome)).toEqual(['subscription.canceled', 'subscription.cancellation_scheduled'])
  }, 90_000)

  it('plan-upgrade and plan-downgrade: a seat added and charged pro rata, then removed and credited', async () => {
    const subject = await activeSubscription()
    const up = await play('plan-upgrade', subject)
    expect(types(up)).toEqual(['subscription.updated', 'transaction.created', 'transaction.billed', 'transaction.updated',
      'transaction.paid', 'transaction.updated', 'transaction.completed'])
    expect(up.state.items.map((item) => item.quantity)).toEqual([11, 1])
    expect(up.emails.find((email) => email.type === 'subscription.plan_changed')?.data).toMatchObject({ direction: 'upgrade' })
    const charge = up.emails.find((email) => email.type === 'payment.succeeded')?.data
    // Nearly the whole month is left: one more seat at 3000, pro rata.
    expect(charge).toMatchObject({ origin: 'subscription_update', totals: { grandTotal: expect.stringMatching(/^29\d\d$|^3000$/) } })

    const down = await play('plan-downgrade', subject)
    expect(down.state.items.map((item) => item.quantity)).toEqual([10, 1])
    expect(down.emails.find((email) => email.type === 'subscription.plan_changed')?.data).toMatchObject({ direction: 'downgrade' })
    expect(emailTypes(down)).not.toContain('payment.failed')
    expect(down.entitlement).toMatchObject({ access: 'granted', reason: 'active' })
  }, 120_000)

  it('refund: the checkout is refunded once approved; the subscription stays as it was', async () => {
    const subject = await activeSubscription()
    const before = await api(`/internal/subscriptions/${subject.subscription}`)
    const outcome = await play('refund', subject)
    expect(types(outcome)).toEqual(['adjustment.created', 'adjustment.updated'])
    expect(outcome.state).toEqual(before)
    expect(emailTypes(outcome)).toEqual(['refund.issued'])
    expect(outcome.emails[0]?.data).toMatchObject({ action: 'refund', type: 'full' })
  }, 90_000)

  it('trial-to-active: billed at the trial end and active; trial-expires: canceled at the trial end', async () => {
    const converting = await play('trial-to-active', await trialingSubscription())
    expect(types(converting).slice(0, 2)).toEqual(['subscription.updated', 'subscription.activated'])
    expect(converting.state.status).toBe('active')
    expect(converting.entitlement).toMatchObject({ access: 'granted', reason: 'active' })
    expect(emailTypes(converting)).toEqual(['payment.succeeded', 'subscription.started'])

    const expiring = await play('trial-expires', await trialingSubscription())
    expect(types(expiring)).toEqual(['subscription.updated', 'subscription.updated', 'subscription.canceled'])
    expect(expiring.state.status).toBe('canceled')
    expect(expiring.entitlement).toMatchObject({ access: 'denied', reason: 'canceled' })
    expect(emailTypes(expiring)).toEqual(['subscription.canceled', 'subscription.cancellation_scheduled'])
  }, 150_000)

  it("refuses a lifecycle that does not start from the subscription's status, and sends nothing", async () => {
    const subject = await activeSubscription()
    const run = await paddleSend('--scenario', 'trial-to-active', '--subscription', subject.subscription)
    expect(run.code).toBe(2)
    expect(run.stderr).toContain(`trial-to-active plays on a subscription that is trialing; ${subject.subscription} is active`)
    expect(eventLines(run.stdout)).toEqual([])
    const unknown = await paddleSend('--scenario', 'renewal', '--subscription', 'sub_01nosuchsubscription000000')
    expect(unknown.code).toBe(2)
    expect(unknown.stderr).toContain('the service has no subscription sub_01nosuchsubscription000000')
  }, 60_000)

  it('--again re-sends a stored event under a new notification id: a duplicate, with no second effect', async () => {
    const subject = await activeSubscription()
    const outcome = await play('cancel-scheduled-removed', subject)
    const [scheduled] = outcome.lines
    const stored = await api(`/internal/admin/events/${scheduled?.eventId ?? ''}`)
    const emailsBefore = await api('/internal/email-events?limit=1000')

    const run = await paddleSend('--again', scheduled?.eventId ?? '')
    expect(run.code, run.stderr).toBe(0)
    const lines = eventLines(run.stdout)
    expect(lines).toEqual([{ type: 'subscription.updated', eventId: scheduled?.eventId, status: '200', body: '{"received":true,"duplicate":true}' }])
    await new Promise((resolve) => setTimeout(resolve, 500))
    // Stored once, as it was; the state still has the cancellation removed; no email event more.
    expect(await api(`/internal/admin/events/${scheduled?.eventId ?? ''}`)).toEqual(stored)
    expect(await api(`/internal/subscriptions/${subject.subscription}`)).toEqual(outcome.state)
    expect(await api('/internal/email-events?limit=1000')).toEqual(emailsBefore)

    const missing = await paddleSend('--again', 'evt_01nosuchevent0000000000000')
    expect(missing.code).toBe(2)
    expect(missing.stderr).toContain('the service has no event evt_01nosuchevent0000000000000')
  }, 90_000)
})
