/**
 * deploy/prometheus/alerts.yml and deploy/grafana/billing.json, as an operator loads them:
 * - promtool (Debian's prometheus package) checks the rules and runs deploy/prometheus/alerts.test.yml, where
 *   every alert has input series that fire it and series that do not; skipped, saying so, without promtool;
 * - every metric the rules and the dashboard name is served by the running service's GET /metrics, with the
 *   labels their selectors use.
 */
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { createBackgroundLoops, type BackgroundLoops } from '#src/app/background.js'
import { createServiceMetrics } from '#src/app/metrics.js'
import type { Metrics } from '#src/platform/metrics.js'
import { buildTestApp, TEST_API_TOKEN, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver } from '../helpers/paddle.js'
import { PROJECT_ROOT } from '../helpers/process.js'
import { at, DAY, freshIds, subscriptionEvent } from '../helpers/scenarios.js'

const RULES = join(PROJECT_ROOT, 'deploy/prometheus/alerts.yml')
/** The second file holds the cases that span days, evaluated every 10 minutes rather than every minute. */
const RULE_TESTS = ['alerts.test.yml', 'alerts.days.test.yml'].map((file) => join(PROJECT_ROOT, 'deploy/prometheus', file))
const DASHBOARD = join(PROJECT_ROOT, 'deploy/grafana/billing.json')

interface AlertRule { alert: string, expr: string, for?: string, labels?: Record<string, string>, annotations?: Record<string, string> }
interface RuleTestCase { alertname: string, eval_time: string, exp_alerts?: unknown[] }
interface GrafanaPanel { type: string, title: string, targets?: Array<{ expr?: string }>, panels?: GrafanaPanel[] }

const rules: AlertRule[] = (parse(readFileSync(RULES, 'utf8')) as { groups: Array<{ rules: AlertRule[] }> }).groups.flatMap((group) => group.rules)
const ruleTestCases = RULE_TESTS.flatMap((file) => (parse(readFileSync(file, 'utf8')) as { tests: Array<{ alert_rule_test: RuleTestCase[] }> }).tests)
  .flatMap((test) => test.alert_rule_test)
const dashboard = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { uid: string, title: string, panels: GrafanaPanel[] }
const dashboardPanels = dashboard.panels.flatMap((panel) => [panel, ...(panel.panels ?? [])]).filter((panel) => panel.type !== 'row')
/** Grafana's variables replaced by what Prometheus would receive. */
const dashboardExpressions = dashboardPanels.flatMap((panel) => (panel.targets ?? []).map((target) => target.expr ?? ''))
  .map((expr) => expr.replaceAll('$__rate_interval', '5m').replaceAll('$job', '.+'))

const promtool = ((): string | null => {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' })
  return found.error === undefined && found.status === 0 ? 'promtool' : null
})()
const PROMTOOL_MISSING = 'promtool is not on PATH (Debian: apt-get install prometheus; .ci/run installs it)'
// Said in the run's output too, not only in the skipped tests' names (which the default reporter hides), as the fault suite does.
if (promtool === null) process.stderr.write(`promtool checks of deploy/prometheus skipped: ${PROMTOOL_MISSING}\n`)
const runPromtool = (...args: string[]) => spawnSync(promtool ?? 'promtool', args, { encoding: 'utf8', cwd: PROJECT_ROOT, timeout: 60_000 })

describe('deploy/prometheus/alerts.yml', () => {
  it('gives every alert a severity it routes on, a summary and a description saying what to do', () => {
    expect(rules.length).toBeGreaterThanOrEqual(10)
    for (const rule of rules) {
      expect(rule.alert, JSON.stringify(rule)).toMatch(/^Billing[A-Z]\w+$/)
      expect(['warning', 'critical'], rule.alert).toContain(rule.labels?.severity)
      expect(rule.annotations?.summary?.length ?? 0, rule.alert).toBeGreaterThan(20)
      expect(rule.annotations?.description ?? '', rule.alert).toMatch(/what to do|see Billing/i)
    }
    expect(new Set(rules.map((rule) => rule.alert)).size).toBe(rules.length)
  })

  it('covers what issue 15 asks for: signature failures, dead events, inbox lag, deliveries, the catch-up, readiness, webhook 5xx', () => {
    const exprOf = (alert: string) => rules.find((rule) => rule.alert === alert)?.expr ?? ''
    const covering = (pattern: RegExp) => rules.filter((rule) => pattern.test(rule.expr)).map((rule) => rule.alert)
    expect(covering(/billing_webhook_verification_failures_total/)).toEqual(['BillingWebhookSignatureFailureBurst', 'BillingWebhooksAllRejected'])
    expect(covering(/billing_inbox_dead\b/)).toEqual(['BillingInboxDeadEvents'])
    expect(covering(/billing_inbox_oldest_pending_seconds/)).toEqual(['BillingInboxLagging', 'BillingInboxLagCritical'])
    expect(covering(/billing_email_event_delivery_attempts_total/)).toEqual(['BillingEmailDeliveriesFailing'])
    expect(covering(/billing_email_events_dead/)).toEqual(['BillingEmailEventsDead'])
    expect(covering(/billing_reconcile_synced_through_timestamp_seconds/)).toEqual(['BillingReconcileCursorOld', 'BillingReconcileCursorNearPaddleRetention'])
    expect(covering(/billing_readiness_check/)).toEqual(['BillingReplicaNotReady', 'BillingNoReplicaReady'])
    expect(exprOf('BillingWebhook5xx')).toContain('route="/webhooks/paddle", status_code=~"5.."')
  })

  it('has, in the promtool test files, a case where each alert fires and one where it does not', () => {
    const cases = ruleTestCases
    const known = new Set(rules.map((rule) => rule.alert))
    expect(cases.filter((testCase) => !known.has(testCase.alertname)).map((testCase) => testCase.alertname)).toEqual([])
    for (const { alert } of rules) {
      const mine = cases.filter((testCase) => testCase.alertname === alert)
      expect(mine.some((testCase) => (testCase.exp_alerts ?? []).length > 0), `${alert} fires somewhere`).toBe(true)
      expect(mine.some((testCase) => (testCase.exp_alerts ?? []).length === 0), `${alert} stays quiet somewhere`).toBe(true)
    }
  })
})

describe.skipIf(promtool === null)(promtool === null ? `promtool: SKIPPED, ${PROMTOOL_MISSING}` : 'promtool', () => {
  it('checks the rules: valid PromQL and templates, every rule counted', () => {
    const checked = runPromtool('check', 'rules', RULES)
    expect(checked.status, checked.stdout + checked.stderr).toBe(0)
    expect(checked.stdout).toContain(`SUCCESS: ${rules.length} rules found`)
  })

  it('runs the test files: each alert fires on its input series, with its labels and rendered annotations, and stays quiet on the others', () => {
    const tested = runPromtool('test', 'rules', ...RULE_TESTS)
    expect(tested.status, tested.stdout + tested.stderr).toBe(0)
    expect(tested.stdout.match(/^ {2}SUCCESS$/gm)).toHaveLength(RULE_TESTS.length)
  })

  it('fails a test file whose expectation the rules do not meet (the run above can fail)', () => {
    const directory = mkdtempSync(join(tmpdir(), 'billing-alerts-'))
    try {
      writeFileSync(join(directory, 'wrong.test.yml'), [
        'rule_files: [' + JSON.stringify(RULES) + ']',
        'tests:',
        '  - interval: 1m',
        '    input_series:',
        '      - series: \'billing_inbox_dead{job="billing"}\'',
        '        values: \'0x10\'',
        '    alert_rule_test:',
        '      - eval_time: 5m',
        '        alertname: BillingInboxDeadEvents',
        '        exp_alerts: [{ exp_labels: { severity: warning, job: billing } }]',
      ].join('\n'))
      const tested = runPromtool('test', 'rules', join(directory, 'wrong.test.yml'))
      expect(tested.status).not.toBe(0)
      expect(tested.stdout + tested.stderr).toContain('FAILED')
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })

  it('parses every query of the dashboard (as recording rules)', () => {
    const directory = mkdtempSync(join(tmpdir(), 'billing-dashboard-'))
    try {
      const file = join(directory, 'dashboard-queries.yml')
      const recordings = dashboardExpressions.map((expr, index) => `      - record: dashboard:query_${index}\n        expr: ${JSON.stringify(expr)}`)
      writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${recordings.join('\n')}\n`)
      const checked = runPromtool('check', 'rules', file)
      expect(checked.status, checked.stdout + checked.stderr).toBe(0)
      expect(checked.stdout).toContain(`SUCCESS: ${dashboardExpressions.length} rules found`)
    } finally {
      rmSync(directory, { recursive: true, force: true })
    }
  })
})

describe('deploy/grafana/billing.json', () => {
  it('is a dashboard whose every panel queries the service\'s metrics through the datasource variable', () => {
    expect(dashboard).toMatchObject({ uid: 'tracksera-billing', title: 'TrackSera billing' })
    expect(dashboardPanels.length).toBeGreaterThan(10)
    for (const panel of dashboardPanels) {
      expect(panel.targets?.length ?? 0, panel.title).toBeGreaterThan(0)
      for (const target of panel.targets ?? []) {
        expect(target.expr, panel.title).toMatch(/\bbilling_\w+/)
        expect(target).toMatchObject({ datasource: { uid: '$' + '{datasource}' } })
      }
    }
  })
})

// ---------------------------------------------------------------------------------------------------------
// Every metric named exists on GET /metrics, with the labels the selectors use.

/** Metric selectors in PromQL: the billing_ name and its label matchers (target labels aside). */
function selectors (expr: string): Array<{ name: string, labels: Array<{ name: string, op: string, value: string }> }> {
  return [...expr.matchAll(/\b(billing_[a-z0-9_]+)(?:\{([^}]*)\})?/g)].map((match) => ({
    name: match[1] ?? '',
    labels: [...(match[2] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)]
      .map((label) => ({ name: label[1] ?? '', op: label[2] ?? '', value: label[3] ?? '' }))
      .filter((label) => !['job', 'instance', 'pod'].includes(label.name)),
  }))
}

/** The exposition's samples: name and labels, one per line. */
function samples (text: string): Array<{ name: string, labels: Map<string, string> }> {
  return text.split('\n').flatMap((line) => {
    const match = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(line)
    if (match === null) return []
    return [{ name: match[1] ?? '', labels: new Map([...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((pair) => [pair[1] ?? '', pair[2] ?? ''])) }]
  })
}

describe('GET /metrics serves every metric the rules and the dashboard name', () => {
  let database: TestDatabase | undefined
  let testApp: TestApp | undefined
  let loops: BackgroundLoops | undefined
  let metrics: Metrics | undefined
  const now = Date.parse(at(DAY))

  beforeAll(async () => {
    database = await createTestDatabase()
    metrics = createServiceMetrics(database.handle)
    testApp = await buildTestApp(database, { clock: () => now, dependencies: { metrics } })
    loops = createBackgroundLoops(testApp.config, { database: database.handle, logger: testApp.app.log as never, clock: () => now, metrics })
  })
  afterAll(async () => {
    await testApp?.app.close()
    await database?.drop()
  })

  it('after webhooks (signed and forged), processing, an entitlement and a readiness probe', async () => {
    if (testApp === undefined || loops === undefined || metrics === undefined) throw new Error('not set up')
    const { app } = testApp
    const ids = freshIds()
    const signed = await deliver(app, subscriptionEvent('subscription.created', ids, { status: 'active', time: DAY }), { timestamp: Math.floor(now / 1000) })
    expect(signed.statusCode).toBe(200)
    const forged = await app.inject({ method: 'POST', url: '/webhooks/paddle', headers: { 'content-type': 'application/json', 'paddle-signature': 'ts=1;h1=00' }, payload: '{}' })
    expect(forged.statusCode).toBe(401)
    await loops.worker.drain()
    expect((await app.inject({ url: `/internal/accounts/${ids.account}/entitlement`, headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })).statusCode).toBe(200)
    expect((await app.inject({ url: '/health/ready' })).statusCode).toBe(200)
    // No receiver and no Paddle API in this test: what the dispatcher and the reconciler report, as they report it.
    metrics.deliveryAttempt('email', 'retry')
    metrics.reconcileRun('catch_up', 'ok', 1)
    metrics.reconcileRun('replay', 'unauthorized')

    const response = await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${TEST_API_TOKEN}` } })
    expect(response.statusCode).toBe(200)
    const text = response.body
    const types = new Map([...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((match) => [match[1] ?? '', match[2] ?? '']))
    const exposed = samples(text)
    /** A histogram's _bucket, _count and _sum belong to its family. */
    const family = (name: string) => {
      const base = name.replace(/_(bucket|count|sum)$/, '')
      return base !== name && types.get(base) === 'histogram' ? base : name
    }

    const named = [
      ...rules.map((rule) => ({ where: `alert ${rule.alert}`, expr: rule.expr })),
      ...dashboardExpressions.map((expr) => ({ where: 'dashboard', expr })),
    ].flatMap(({ where, expr }) => selectors(expr).map((selector) => ({ where, ...selector })))
    expect(named.length).toBeGreaterThan(40)

    const problems: string[] = []
    for (const { where, name, labels } of named) {
      if (!types.has(family(name))) {
        problems.push(`${where}: ${name} is not on /metrics`)
        continue
      }
      const series = exposed.filter((sample) => sample.name === name)
      if (series.length === 0) {
        problems.push(`${where}: ${name} has no sample after the traffic above`)
        continue
      }
      for (const label of labels) {
        if (!series.some((sample) => sample.labels.has(label.name))) {
          problems.push(`${where}: ${name} has no label ${label.name}`)
          continue
        }
        if (label.op === '=' && !series.some((sample) => sample.labels.get(label.name) === label.value)) {
          problems.push(`${where}: no ${name} sample has ${label.name}="${label.value}"`)
        }
      }
    }
    expect(problems).toEqual([])
  })
})
