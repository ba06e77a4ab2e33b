/**
 * The gauges the alerting rules (deploy/prometheus/alerts.yml) need beyond the feature counters: readiness
 * as scraped, and how far Paddle's event log has been read.
 */
import { describe, expect, it } from 'vitest'
import { createServiceMetrics } from '#src/app/metrics.js'
import { toEpochMicros } from '#src/platform/timestamps.js'
import { EVENT_LOG_JOB } from '#src/reconcile/event-log-catch-up.js'
import { writeJobState } from '#src/reconcile/job-state.repository.js'
import { TEST_API_TOKEN } from '../helpers/app.js'
import { useHarness } from '../helpers/harness.js'
import { deliver } from '../helpers/paddle.js'
import { sample } from '../helpers/prometheus.js'
import { at, DAY, freshIds, subscriptionEvent } from '../helpers/scenarios.js'

const harness = useHarness({ now: Date.parse(at(DAY)), env: { READY_MAX_INBOX_LAG_SECONDS: '60' } })
const auth = { authorization: `Bearer ${TEST_API_TOKEN}` }

const scrape = async (): Promise<string> => {
  const response = await harness.testApp.app.inject({ url: '/metrics', headers: auth })
  expect(response.statusCode).toBe(200)
  return response.body
}
const checks = (text: string) => Object.fromEntries(['database', 'migrations', 'inbox_lag'].map((check) => [check, sample(text, 'billing_readiness_check', { check })]))

describe('billing_readiness_check', () => {
  it('evaluates GET /health/ready\'s checks at each scrape: 1 passing, 0 failing', async () => {
    expect(checks(await scrape())).toEqual({ database: 1, migrations: 1, inbox_lag: 1 })

    // An event pending for two minutes: over READY_MAX_INBOX_LAG_SECONDS, the replica is not ready.
    const event = subscriptionEvent('subscription.created', freshIds(), { status: 'active', time: DAY })
    expect((await deliver(harness.testApp.app, event, { timestamp: Math.floor(harness.now / 1000) })).statusCode).toBe(200)
    await harness.database.handle.query({ name: 'metrics_test_age_inbox', text: 'UPDATE paddle_inbox SET received_at = now() - interval \'2 minutes\' WHERE event_id = $1' }, [event.event_id])
    expect(checks(await scrape())).toEqual({ database: 1, migrations: 1, inbox_lag: 0 })
    const ready = await harness.testApp.app.inject({ url: '/health/ready' })
    expect(ready.statusCode).toBe(503)
    expect(ready.json()).toMatchObject({ status: 'not_ready', checks: { database: 'ok', migrations: 'ok', inbox_lag: expect.stringContaining('waited') } })

    await harness.loops.worker.drain()
    expect(checks(await scrape())).toEqual({ database: 1, migrations: 1, inbox_lag: 1 })
    expect((await harness.testApp.app.inject({ url: '/health/ready' })).statusCode).toBe(200)
  })

  it('is absent where no readiness is served (a worker-only process)', async () => {
    const workerMetrics = createServiceMetrics(harness.database.handle)
    const text = await workerMetrics.registry.metrics()
    expect(text).toContain('# TYPE billing_readiness_check gauge')
    expect(text).not.toMatch(/^billing_readiness_check\{/m)
  })
})

describe('billing_reconcile_synced_through_timestamp_seconds', () => {
  it('is 0 before any catch-up, then the stored syncedThrough as epoch seconds, read by every process', async () => {
    const workerMetrics = createServiceMetrics(harness.database.handle)
    const read = async (text: string | Promise<string>) => sample(await text, 'billing_reconcile_synced_through_timestamp_seconds')
    expect(await read(scrape())).toBe(0)

    const syncedThrough = '2024-04-12T10:18:49.738971Z'
    await writeJobState(harness.database.handle, EVENT_LOG_JOB, { cursor: 'evt_01hcursor', syncedThrough })
    const expected = Number(toEpochMicros(syncedThrough)) / 1e6
    expect(expected).toBeCloseTo(Date.UTC(2024, 3, 12, 10, 18, 49, 739) / 1000, 2)
    expect(await read(scrape())).toBeCloseTo(expected, 5)
    // A process that never ran the catch-up reports it too: the alert takes the latest over all of them.
    expect(await read(workerMetrics.registry.metrics())).toBeCloseTo(expected, 5)
  })
})
