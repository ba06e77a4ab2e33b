/**
 * The console in a real browser: Debian's Chromium (apt-get install chromium; .ci/run installs it)
 * driven by playwright-core. Screenshots of every page go to test-results/console/.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { chromium, type Browser, type Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { PROJECT_ROOT } from '../helpers/process.js'
import { at, customerEvent, DAY, freshIds, subscriptionEvent, transactionEvent } from '../helpers/scenarios.js'

const CHROMIUM = '/usr/bin/chromium'
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run']
const SCREENSHOTS = `${PROJECT_ROOT}test-results/console`

const unavailable = existsSync(CHROMIUM) ? null : `${CHROMIUM} is missing (install Debian's package: apt-get install -y chromium)`
if (unavailable !== null) process.stderr.write(`console browser tests skipped: ${unavailable}\n`)

// The app's time is a day into the scenarios: the subscription is in its first period, its email events recent.
const harness = useHarness({
  now: Date.parse(at(DAY)),
  env: { CONSOLE_ENABLED: 'true', WORKER_MAX_ATTEMPTS: '1', WORKER_POLL_INTERVAL_MS: '100' },
})

// Generous timeouts: Chromium shares a small, busy machine with the rest of the suite.
describe.skipIf(unavailable !== null)('the console in Chromium', { timeout: 60_000 }, () => {
  const ids = freshIds()
  const created = subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY / 2 })
  const checkout = transactionEvent('transaction.completed', ids, { id: ids.checkout, status: 'completed', time: DAY / 2 - 60, payments: [{ status: 'captured' }] })
  const customer = customerEvent('customer.created', ids, { time: DAY / 2 - 120 })
  const broken = subscriptionEvent('subscription.updated', ids, { status: 'active', time: DAY, scheduledChange: { action: 'cancel', effectiveAt: 30 * DAY } })
  broken.data.status = 'reticulating'

  let browser: Browser
  let page: Page
  let base: string
  const shoot = async (name: string) => { await page.screenshot({ path: `${SCREENSHOTS}/${name}.png`, fullPage: true }) }

  beforeAll(async () => {
    mkdirSync(SCREENSHOTS, { recursive: true })
    await harness.send(customer, checkout, created)
    await harness.send(broken)
    base = await harness.testApp.app.listen({ port: 0, host: '127.0.0.1' })
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS })
    page = await browser.newPage({ viewport: { width: 1280, height: 860 } })
  })
  afterAll(async () => {
    await browser?.close()
    await harness.loops.worker.stop()
  })

  it('signs in with an internal API token, and refuses a wrong one', async () => {
    await page.goto(`${base}/console`)
    expect(new URL(page.url()).pathname).toBe('/console/sign-in')
    await shoot('sign-in')
    await page.fill('input[name=token]', 'not-the-token-0123456789abcdef')
    await page.click('button[type=submit]')
    await expect.poll(async () => await page.textContent('.notice')).toBe('That token is not accepted.')
    await page.fill('input[name=token]', TEST_API_TOKEN)
    await page.click('button[type=submit]')
    await page.waitForURL(`${base}/console/inbox`)
    const cookies = await page.context().cookies()
    expect(cookies.map(({ name, httpOnly, sameSite, path }) => ({ name, httpOnly, sameSite, path })))
      .toEqual([{ name: 'billing_console_session', httpOnly: true, sameSite: 'Strict', path: '/console' }])
    // The page's script cannot read it (HttpOnly), and there is no script anyway.
    expect(await page.evaluate('document.cookie')).toBe('')
    await expect.poll(async () => await page.textContent('.card:has-text("dead") b')).toBe('1')
    await shoot('inbox')
  })

  it('filters the inbox by status and entity, and shows an event\'s projection', async () => {
    await page.selectOption('select[name=status]', 'dead')
    await page.fill('input[name=entity]', ids.subscription)
    await page.click('form.filters button[type=submit]')
    await page.waitForURL(/status=dead/)
    expect(Object.fromEntries(new URL(page.url()).searchParams)).toMatchObject({ status: 'dead', entity: ids.subscription })
    const events = page.locator('details.event')
    await expect.poll(async () => await events.count()).toBe(1)
    await page.click(`#event-${broken.event_id} > summary`)
    const projection = page.locator(`#event-${broken.event_id} pre`)
    expect(await projection.isVisible()).toBe(true)
    expect(await projection.textContent()).toContain('"status": "reticulating"')
    expect(await page.textContent(`#event-${broken.event_id}`)).toContain('data.status is not one of')
    await shoot('inbox-filtered')
  })

  it('opens a subscription: state, entitlement, timeline and email events', async () => {
    await page.fill('header input[name=id]', ids.subscription)
    await page.press('header input[name=id]', 'Enter')
    await page.waitForURL(`${base}/console/subscriptions/${ids.subscription}`)
    const text = await page.textContent('main') ?? ''
    expect(text).toContain(`Subscription ${ids.subscription}`)
    expect(text).toContain(ids.account)
    expect(await page.textContent('dt:has-text("Access") + dd')).toBe('granted')
    const timeline = page.locator('h2:has-text("Timeline") + table tbody tr')
    expect(await timeline.count()).toBe(3) // the checkout transaction, the creation, the dead update (customer events are not on it)
    expect(await timeline.last().textContent()).toContain('dead')
    expect(await page.textContent('h2:has-text("Email events") + table')).toContain('subscription.started')
    await shoot('subscription')
  })

  it('redrives a dead event from the dead letters, and the running worker applies it', async () => {
    await page.click('header a:has-text("Dead letters")')
    await page.waitForURL(`${base}/console/dead-letters`)
    await shoot('dead-letters')
    // The cause is fixed (here: the payload the worker could not apply); then the operator redrives it.
    await harness.database.handle.query({
      name: 'console_browser_fix_payload',
      text: 'UPDATE paddle_inbox SET payload = jsonb_set(payload, \'{status}\', \'"active"\') WHERE event_id = $1',
    }, [broken.event_id])
    await harness.loops.worker.start()
    await page.click(`tr:has-text("${broken.event_id}") button:has-text("Redrive")`)
    await page.waitForURL(/done=redriven/)
    expect(await page.textContent('.notice')).toContain(`${broken.event_id} is pending again`)
    await shoot('dead-letters-redriven')
    await page.click('.notice a:has-text("See it in the inbox")')
    await page.waitForURL(/\/console\/inbox\?event=/)
    await expect.poll(async () => {
      await page.reload()
      return await page.textContent(`#event-${broken.event_id} summary .badge`)
    }, { timeout: 20_000, interval: 200 }).toBe('processed')
    await shoot('redriven')

    await page.goto(`${base}/console/subscriptions/${ids.subscription}`)
    expect(await page.textContent('dt:has-text("Scheduled change") + dd')).toContain('cancel at')
    expect(await page.textContent('dt:has-text("Reason") + dd')).toBe('cancel_scheduled')
  })

  it('signs out', async () => {
    await page.click('header button:has-text("Sign out")')
    await page.waitForURL(`${base}/console/sign-in?status=signed_out`)
    expect(await page.textContent('.notice')).toBe('Signed out.')
    expect(await page.context().cookies()).toEqual([])
    await page.goto(`${base}/console/inbox`)
    expect(new URL(page.url()).pathname).toBe('/console/sign-in')
  })
})
