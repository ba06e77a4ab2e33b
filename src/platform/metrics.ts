/**
 * Prometheus metrics (prom-client), one registry per process. Counters and histograms are fed by the
 * intake, the worker, the dispatcher and the routes; the inbox and outbox gauges are read from the
 * database when scraped (app/metrics.ts says how), with one read shared by all of them.
 */
import client from 'prom-client'
import { toEpochMicros } from './timestamps.js'

export interface Metrics {
  registry: client.Registry
  webhookReceived(eventType: string, outcome: 'stored' | 'duplicate' | 'invalid' | 'error', secretIndex?: number): void
  verificationFailed(reason: string): void
  eventProcessed(event: { eventType: string, occurredAt: string }, status: string, outcome: string | null, now: number): void
  /** A push delivery's outcome, by stream (email, entitlement). */
  deliveryAttempt(stream: string, outcome: 'delivered' | 'retry' | 'dead'): void
  entitlementAnswered(access: string): void
  httpRequest(method: string, route: string, statusCode: number, seconds: number): void
  reconcileCursorAge(seconds: number | null): void
  /** outcome: ok, or what went wrong (unauthorized, rate_limited, unavailable, timeout, rejected, error). */
  reconcileRun(step: 'catch_up' | 'replay' | 'drift', outcome: string, count?: number): void
  /** Where billing_readiness_check reads GET /health/ready's checks from, at each scrape (check name -> passing). */
  readinessSource(evaluate: () => Promise<Record<string, boolean>>): void
}

/** The inbox and outbox backlog, read from the database when scraped. */
export interface Backlog {
  inbox_depth: number
  inbox_oldest_pending_seconds: number
  inbox_dead: number
  email_pending: number
  email_dead: number
  entitlement_pending: number
  entitlement_dead: number
}

export interface MetricsSources {
  /** One read for all backlog gauges; null when the database does not answer. */
  readBacklog(): Promise<Backlog | null>
  /** Bounded label values: known event types as they are, anything else as one label. */
  eventTypeLabel(eventType: string): string
  /** Epoch seconds before which Paddle's event log has been read (the catch-up's syncedThrough); null before the first catch-up. */
  readReconcileSyncedThrough(): Promise<number | null>
}

export function createMetrics (sources: MetricsSources): Metrics {
  const { eventTypeLabel } = sources
  const registry = new client.Registry()
  client.collectDefaultMetrics({ register: registry, prefix: 'billing_' })

  // One database round trip per scrape, however many gauges read it.
  let backlog: Promise<Backlog | null> | null = null
  const readBacklog = async (): Promise<Backlog | null> => {
    backlog ??= sources.readBacklog().catch(() => null)
      .finally(() => { backlog = null })
    return await backlog
  }
  const backlogGauge = (name: string, help: string, field: keyof Backlog) => new client.Gauge({
    name,
    help,
    registers: [registry],
    async collect () {
      const value = (await readBacklog())?.[field]
      if (value !== undefined) this.set(Number(value))
    },
  })
  backlogGauge('billing_inbox_depth', 'Paddle events waiting to be applied (pending or failed, awaiting a retry)', 'inbox_depth')
  backlogGauge('billing_inbox_oldest_pending_seconds', 'Age of the oldest pending Paddle event', 'inbox_oldest_pending_seconds')
  backlogGauge('billing_inbox_dead', 'Paddle events that failed every attempt (see GET /internal/admin/events?status=dead)', 'inbox_dead')
  backlogGauge('billing_email_events_pending', 'Email events not delivered yet', 'email_pending')
  backlogGauge('billing_email_events_dead', 'Email events whose delivery was given up (see POST /internal/email-events/:id/redeliver)', 'email_dead')
  backlogGauge('billing_entitlement_events_pending', 'Entitlement events not delivered yet', 'entitlement_pending')
  backlogGauge('billing_entitlement_events_dead', 'Entitlement events whose delivery was given up (see POST /internal/entitlement-events/:id/redeliver)', 'entitlement_dead')

  const webhooks = new client.Counter({ name: 'billing_webhooks_received_total', help: 'Verified Paddle webhooks by event type and outcome', labelNames: ['event_type', 'outcome'], registers: [registry] })
  const failures = new client.Counter({ name: 'billing_webhook_verification_failures_total', help: 'Rejected Paddle webhooks by reason', labelNames: ['reason'], registers: [registry] })
  const secrets = new client.Counter({ name: 'billing_webhook_secret_matches_total', help: 'Which configured secret (by index, never value) verified a webhook: watch it during a rotation', labelNames: ['secret_index'], registers: [registry] })
  const processed = new client.Counter({ name: 'billing_events_processed_total', help: 'Paddle events the worker finished, by status and outcome', labelNames: ['status', 'outcome'], registers: [registry] })
  const lag = new client.Histogram({
    name: 'billing_event_processing_lag_seconds',
    help: 'From an event\'s occurred_at at Paddle to its processing here',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 3600, 86400],
    registers: [registry],
  })
  // The name predates the entitlement stream; `stream` tells them apart (email, entitlement).
  const deliveries = new client.Counter({ name: 'billing_email_event_delivery_attempts_total', help: 'Push delivery attempts by stream (email, entitlement) and outcome', labelNames: ['stream', 'outcome'], registers: [registry] })
  const entitlements = new client.Counter({ name: 'billing_entitlement_answers_total', help: 'Entitlement answers by access', labelNames: ['access'], registers: [registry] })
  const http = new client.Histogram({
    name: 'billing_http_request_duration_seconds',
    help: 'HTTP request durations by route',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [registry],
  })
  const cursorAge = new client.Gauge({ name: 'billing_reconcile_cursor_age_seconds', help: 'Age of the Paddle event-log catch-up cursor (Paddle keeps 90 days of events)', registers: [registry] })
  // Read from the database at each scrape, so that every process reports it and it keeps ageing when no
  // catch-up runs at all (alert on time() minus it); the cursor age gauge above changes only when a run ends.
  new client.Gauge({ // eslint-disable-line no-new
    name: 'billing_reconcile_synced_through_timestamp_seconds',
    help: 'Every event Paddle logged before this time has been read by the event-log catch-up (0: no catch-up has run yet)',
    registers: [registry],
    async collect () {
      const seconds = await sources.readReconcileSyncedThrough().catch(() => undefined)
      if (seconds !== undefined) this.set(seconds ?? 0)
    },
  })
  let readiness: (() => Promise<Record<string, boolean>>) | null = null
  new client.Gauge({ // eslint-disable-line no-new
    name: 'billing_readiness_check',
    help: 'GET /health/ready\'s checks, evaluated at each scrape: 1 passing, 0 failing (absent where the process serves no readiness)',
    labelNames: ['check'],
    registers: [registry],
    async collect () {
      if (readiness === null) return
      const results = await readiness()
      this.reset()
      for (const [check, passing] of Object.entries(results)) this.set({ check }, passing ? 1 : 0)
    },
  })
  const reconcile = new client.Counter({ name: 'billing_reconcile_runs_total', help: 'Reconciliation steps by outcome', labelNames: ['step', 'outcome'], registers: [registry] })
  const reconciled = new client.Counter({ name: 'billing_reconcile_items_total', help: 'What reconciliation found or asked for, by step', labelNames: ['step'], registers: [registry] })

  return {
    registry,
    webhookReceived (eventType, outcome, secretIndex) {
      webhooks.inc({ event_type: outcome === 'invalid' ? 'invalid' : eventTypeLabel(eventType), outcome })
      if (secretIndex !== undefined) secrets.inc({ secret_index: String(secretIndex) })
    },
    verificationFailed: (reason) => failures.inc({ reason }),
    eventProcessed (event, status, outcome, now) {
      processed.inc({ status, outcome: outcome ?? 'none' })
      if (status === 'processed' || status === 'ignored') {
        lag.observe(Math.max(0, now / 1000 - Number(toEpochMicros(event.occurredAt)) / 1e6))
      }
    },
    deliveryAttempt: (stream, outcome) => deliveries.inc({ stream, outcome }),
    entitlementAnswered: (access) => entitlements.inc({ access }),
    httpRequest: (method, route, statusCode, seconds) => http.observe({ method, route, status_code: String(statusCode) }, seconds),
    reconcileCursorAge (seconds) {
      if (seconds === null) cursorAge.reset()
      else cursorAge.set(seconds)
    },
    reconcileRun (step, outcome, count) {
      reconcile.inc({ step, outcome })
      if (count !== undefined && count > 0) reconciled.inc({ step }, count)
    },
    readinessSource (evaluate) {
      readiness = evaluate
    },
  }
}
