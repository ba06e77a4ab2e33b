/**
 * Tracing: one Paddle webhook in, one email event delivered out, one trace. The service (the app),
 * the worker and the dispatcher each get a database handle of their own, so the trace can only cross
 * from one to the next through what is stored with the inbox and outbox rows. The spans go to the
 * SDK's in-memory exporter; the receiver is a real local HTTP server that records the headers.
 */
import { readFileSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { context, propagation, trace } from '@opentelemetry/api'
import type { Instrumentation } from '@opentelemetry/instrumentation'
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base'
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node'
import { eq } from 'drizzle-orm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createBackgroundLoops } from '#src/app/background.js'
import { buildApp } from '#src/app/app.js'
import type { DatabaseHandle } from '#src/db/client.js'
import { emailEventsTable, paddleInboxTable } from '#src/db/schema.js'
import { PACKAGE_NAME, tracingSettings } from '#src/platform/config.js'
import { instrumentPostgres } from '#src/platform/telemetry.js'
import { formatTraceparent, parseTraceparent } from '#src/platform/tracing.js'
import { silentLogger, TEST_API_TOKEN, TEST_WEBHOOK_SECRET, testConfig } from '../helpers/app.js'
import { createTestDatabase, usesPostgres, type TestDatabase } from '../helpers/database.js'
import { deliver } from '../helpers/paddle.js'
import { PROJECT_ROOT, spawnService } from '../helpers/process.js'
import { signPaddlePayload } from '#src/paddle/signature.js'
import { freshIds, transactionEvent, customerEvent } from '../helpers/scenarios.js'
import { plantSentinels, SENTINEL_MARK, SENTINEL_NUMBER } from '../helpers/sentinels.js'

const SIGNING_SECRET = 'whsec_' + Buffer.alloc(32, 9).toString('base64')
const EMAIL = 'ada.tracing@example.com'
const NAME = 'Ada Tracing-Lovelace'

class Receiver {
  readonly requests: Array<{ headers: IncomingHttpHeaders, body: string }> = []
  private server: Server | undefined
  url = ''
  async listen (): Promise<this> {
    const server = createServer((request, response) => {
      const chunks: Buffer[] = []
      request.on('data', (chunk: Buffer) => chunks.push(chunk))
      request.on('end', () => {
        this.requests.push({ headers: request.headers, body: Buffer.concat(chunks).toString('utf8') })
        response.writeHead(204).end()
      })
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    this.server = server
    this.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/email-events`
    return this
  }

  async close (): Promise<void> {
    await new Promise<void>((resolve) => { this.server?.close(() => resolve()) ?? resolve() })
  }
}

/** The service, the worker and the dispatcher, as separate processes would have them: one database handle each. */
async function pipeline (database: TestDatabase, receiver: Receiver) {
  const config = testConfig({ EMAIL_EVENTS_URL: receiver.url, EMAIL_EVENTS_SIGNING_SECRET: SIGNING_SECRET, EMAIL_EVENT_MAX_AGE_HOURS: '8760' })
  const handles: DatabaseHandle[] = [database.handle, await database.connect({ poolMax: 3 }), await database.connect({ poolMax: 3 })]
  const [serviceDb, workerDb, dispatcherDb] = handles as [DatabaseHandle, DatabaseHandle, DatabaseHandle]
  const app = await buildApp(config, { database: serviceDb, logger: silentLogger })
  await app.ready()
  const worker = createBackgroundLoops(config, { database: workerDb, logger: silentLogger }).worker
  const dispatcher = createBackgroundLoops(config, { database: dispatcherDb, logger: silentLogger }).dispatcher
  if (dispatcher === null) throw new Error('the dispatcher needs EMAIL_EVENTS_URL')
  return { app, worker, dispatcher, close: async () => { await app.close() } }
}

function sentEvents () {
  const ids = freshIds()
  // The customer carries an email and a name, the transaction a card (sentinels): none may reach a span.
  const customer = customerEvent('customer.created', ids, { time: 1, email: EMAIL, name: NAME })
  const completed = plantSentinels(transactionEvent('transaction.completed', ids, {
    id: ids.checkout,
    status: 'completed',
    time: 2,
    payments: [{ status: 'captured' }],
    billingPeriod: [2, 2 + 30 * 86_400],
  }))
  return { ids, customer, completed }
}

describe('tracing settings', () => {
  it('starts the SDK only with an OTLP endpoint, and names the service after the package', () => {
    const packageName = (JSON.parse(readFileSync(`${PROJECT_ROOT}package.json`, 'utf8')) as { name: string }).name
    expect(PACKAGE_NAME).toBe(packageName)
    expect(tracingSettings({})).toEqual({ enabled: false, serviceName: packageName })
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toEqual({ enabled: true, serviceName: packageName })
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://collector:4318/v1/traces' }).enabled).toBe(true)
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SDK_DISABLED: 'true' }).enabled).toBe(false)
    expect(tracingSettings({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318', OTEL_SERVICE_NAME: 'billing-eu' }).serviceName).toBeUndefined()
    expect(tracingSettings({ OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment=prod,service.name=billing-eu' }).serviceName).toBeUndefined()
  })

  it('reads and writes W3C traceparents, refusing malformed or all-zero ones', () => {
    const value = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'
    expect(formatTraceparent(parseTraceparent(value))).toBe(value)
    for (const bad of ['', '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', '00-00000000000000000000000000000000-00f067aa0ba902b7-01',
      '00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01', '00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01', null]) {
      expect(parseTraceparent(bad)).toBeUndefined()
    }
  })
})

// Tracing off first: nothing is registered yet, so @opentelemetry/api hands out no-ops.
describe('with tracing off', () => {
  let database: TestDatabase
  const receiver = new Receiver()
  beforeAll(async () => {
    database = await createTestDatabase()
    await receiver.listen()
  })
  afterAll(async () => {
    await receiver.close()
    await database.drop()
  })

  it('stores and sends no trace context, and everything still flows', async () => {
    const service = await pipeline(database, receiver)
    const { customer, completed } = sentEvents()
    for (const event of [customer, completed]) expect((await deliver(service.app, event)).statusCode).toBe(200)
    expect(await service.worker.drain()).toBe(2)
    expect(await service.dispatcher.dispatchOnce()).toBe(1)
    await service.close()

    expect(receiver.requests).toHaveLength(1)
    expect(receiver.requests[0]?.headers.traceparent).toBeUndefined()
    const inbox = await database.handle.db.select({ traceparent: paddleInboxTable.traceparent }).from(paddleInboxTable)
      .where(eq(paddleInboxTable.eventId, completed.event_id))
    expect(inbox).toEqual([{ traceparent: null }])
    const outbox = await database.handle.db.select({ traceparent: emailEventsTable.traceparent, status: emailEventsTable.status }).from(emailEventsTable)
    expect(outbox).toEqual([{ traceparent: null, status: 'delivered' }])
  })
})

describe('with tracing on', () => {
  let database: TestDatabase
  const receiver = new Receiver()
  const exporter = new InMemorySpanExporter()
  const provider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  let instrumentation: Instrumentation | undefined

  beforeAll(async () => {
    // As startTelemetry does with the NodeSDK: a global provider, context manager and W3C propagator, then pg.
    provider.register()
    instrumentation = await instrumentPostgres()
    database = await createTestDatabase()
    await receiver.listen()
  })
  afterAll(async () => {
    await receiver.close()
    await database.drop()
    instrumentation?.disable()
    await provider.shutdown()
    trace.disable()
    context.disable()
    propagation.disable()
  })

  it('follows one Paddle event from the webhook to its email event\'s delivery in one trace', async () => {
    const service = await pipeline(database, receiver)
    const { ids, customer, completed } = sentEvents()
    expect((await deliver(service.app, customer)).statusCode).toBe(200)
    expect((await deliver(service.app, completed)).statusCode).toBe(200)
    expect(await service.worker.drain()).toBe(2)
    expect(await service.dispatcher.dispatchOnce()).toBe(1)
    await service.close()
    const spans = exporter.getFinishedSpans()
    const named = (name: string): ReadableSpan[] => spans.filter((span) => span.name === name)
    const one = (name: string, where: (span: ReadableSpan) => boolean = () => true): ReadableSpan => {
      const found = named(name).filter(where)
      expect(found, `${name}: ${spans.map((span) => span.name).join(', ')}`).toHaveLength(1)
      return found[0] as ReadableSpan
    }
    const parentOf = (span: ReadableSpan): string | undefined => span.parentSpanContext?.spanId
    const isChild = (child: ReadableSpan, parent: ReadableSpan): void => {
      expect(child.spanContext().traceId).toBe(parent.spanContext().traceId)
      expect(parentOf(child), `${child.name} under ${parent.name}`).toBe(parent.spanContext().spanId)
    }

    // The webhook: verify, project, insert (and the coalesced statement under it).
    expect(named('paddle.webhook')).toHaveLength(2)
    const webhook = one('paddle.webhook', (span) => span.attributes['paddle.event_id'] === completed.event_id)
    const traceId = webhook.spanContext().traceId
    const under = (parent: ReadableSpan) => (span: ReadableSpan) => parentOf(span) === parent.spanContext().spanId
    expect(webhook.parentSpanContext).toBeUndefined()
    expect(webhook.attributes).toMatchObject({ 'paddle.event_type': 'transaction.completed', 'billing.webhook.outcome': 'stored' })
    isChild(one('paddle.webhook.verify', under(webhook)), webhook)
    isChild(one('paddle.webhook.project', under(webhook)), webhook)
    const insert = one('paddle_inbox.insert', under(webhook))
    const write = one('paddle_inbox.write', under(insert))
    isChild(write, insert)

    // Processing, in the worker: continues the webhook's trace through the stored traceparent (a remote parent).
    const processing = one('paddle.event.process', (span) => span.attributes['paddle.event_id'] === completed.event_id)
    isChild(processing, webhook)
    expect(processing.parentSpanContext?.isRemote).toBe(true)
    const apply = one('billing.apply', under(processing))
    const derive = one('email_events.derive', under(processing))
    expect(apply.attributes['billing.outcome']).toBe('applied')
    expect(derive.attributes['billing.email_events.derived']).toBe(1)

    // The delivery, in the dispatcher: continues the derive span's trace; the receiver got its context.
    const delivery = one('email_event.deliver')
    isChild(delivery, derive)
    expect(delivery.parentSpanContext?.isRemote).toBe(true)
    expect(delivery.attributes).toMatchObject({ 'billing.email_event.type': 'payment.succeeded', 'billing.delivery.outcome': 'delivered', 'http.response.status_code': 204 })
    expect(receiver.requests).toHaveLength(1)
    const sent = parseTraceparent(String(receiver.requests[0]?.headers.traceparent))
    expect(sent?.traceId).toBe(traceId)
    expect(sent?.spanId).toBe(delivery.spanContext().spanId)
    expect(JSON.parse(receiver.requests[0]?.body ?? '{}')).toMatchObject({ type: 'payment.succeeded', transactionId: ids.checkout })

    // What is stored: the webhook's context with the inbox row, the derive span's with the email event.
    const [inbox] = await database.handle.db.select({ traceparent: paddleInboxTable.traceparent }).from(paddleInboxTable)
      .where(eq(paddleInboxTable.eventId, completed.event_id))
    expect(inbox?.traceparent).toBe(formatTraceparent(webhook.spanContext()))
    const [outbox] = await database.handle.db.select({ traceparent: emailEventsTable.traceparent }).from(emailEventsTable)
      .where(eq(emailEventsTable.transactionId, ids.checkout))
    expect(outbox?.traceparent).toBe(formatTraceparent(derive.spanContext()))

    // Database spans from the pg instrumentation, inside our spans only, without parameters.
    const statements = spans.filter((span) => span.attributes['db.system.name'] === 'postgresql' || span.attributes['db.system'] === 'postgresql')
    expect(statements.length).toBeGreaterThan(0)
    expect(statements.some((span) => parentOf(span) === write.spanContext().spanId && String(span.attributes['db.query.text']).includes('INSERT INTO paddle_inbox'))).toBe(true)
    expect(statements.some((span) => span.spanContext().traceId === traceId && String(span.attributes['db.query.text']).includes('INSERT INTO email_events'))).toBe(true)
    for (const span of statements) {
      // No statement outside a span of ours (the idle polls): each has a parent.
      expect(spans.some((parent) => parent.spanContext().spanId === parentOf(span)), `${span.name} has a parent`).toBe(true)
      expect(Object.keys(span.attributes).filter((key) => key.includes('values') || key.includes('parameter'))).toEqual([])
    }
  })

  it('puts no personal data, payload, signature or secret into any span', () => {
    const spans = exporter.getFinishedSpans()
    expect(spans.length).toBeGreaterThan(10)
    const text = JSON.stringify(spans.map((span) => ({ name: span.name, attributes: span.attributes, events: span.events, status: span.status, links: span.links })))
    for (const forbidden of [EMAIL, NAME, 'Lovelace', '@example.com', SENTINEL_MARK, String(SENTINEL_NUMBER), TEST_WEBHOOK_SECRET, TEST_API_TOKEN,
      SIGNING_SECRET, SIGNING_SECRET.slice('whsec_'.length), 'h1=', 'v1,', 'postgres@', 'password']) {
      expect(text, forbidden).not.toContain(forbidden)
    }
  })
})

interface ExportedSpan { traceId: string, spanId: string, parentSpanId?: string, name: string, service: string }

/** An OTLP/HTTP JSON collector: what the real SDK of each process exports. */
async function startCollector (): Promise<{ url: string, spans: ExportedSpan[], close(): Promise<void> }> {
  const spans: ExportedSpan[] = []
  const server = createServer((request, response) => {
    const chunks: Buffer[] = []
    request.on('data', (chunk: Buffer) => chunks.push(chunk))
    request.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { resourceSpans?: any[] }
      for (const resourceSpans of body.resourceSpans ?? []) {
        const service = String(resourceSpans.resource?.attributes?.find((attribute: any) => attribute.key === 'service.name')?.value?.stringValue)
        for (const scope of resourceSpans.scopeSpans ?? []) for (const span of scope.spans ?? []) spans.push({ ...span, service })
      }
      response.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    spans,
    close: async () => { await new Promise<void>((resolve) => server.close(() => resolve())) },
  }
}

describe.skipIf(!usesPostgres())('the entry points, with OTEL_EXPORTER_OTLP_ENDPOINT set', () => {
  let database: TestDatabase
  beforeAll(async () => { database = await createTestDatabase() })
  afterAll(async () => { await database.drop() })

  it('export one trace from the service process through the worker process to the receiver', async () => {
    const collector = await startCollector()
    const receiver = await new Receiver().listen()
    const otel = { OTEL_EXPORTER_OTLP_ENDPOINT: collector.url, OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_BSP_SCHEDULE_DELAY: '100' }
    const common = { DATABASE_URL: database.url ?? '', MIGRATE_ON_START: 'false', SCHEDULER_ENABLED: 'false', LOG_LEVEL: 'info', EMAIL_EVENT_MAX_AGE_HOURS: '8760', ...otel }
    const service = spawnService('src/server.ts', {
      ...common, PORT: '0', HOST: '127.0.0.1', WORKER_ENABLED: 'false', PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET, INTERNAL_API_TOKENS: TEST_API_TOKEN,
    })
    const worker = spawnService('src/worker.ts', { ...common, EMAIL_EVENTS_URL: receiver.url, EMAIL_EVENTS_SIGNING_SECRET: SIGNING_SECRET, OTEL_SERVICE_NAME: 'billing-worker' })
    try {
      const port = await service.listening
      const { completed } = sentEvents()
      const body = JSON.stringify(completed)
      const answer = await fetch(`http://127.0.0.1:${port}/webhooks/paddle`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'paddle-signature': signPaddlePayload(TEST_WEBHOOK_SECRET, body, Math.floor(Date.now() / 1000)) },
        body,
      })
      expect(answer.status).toBe(200)
      for (let waited = 0; receiver.requests.length === 0; waited += 50) {
        if (waited > 30_000) throw new Error(`nothing delivered:\n${worker.output()}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
      // SIGTERM: each process exports what it still holds before it exits.
      service.child.kill('SIGTERM')
      worker.child.kill('SIGTERM')
      expect((await service.exited).code).toBe(0)
      expect((await worker.exited).code).toBe(0)

      const find = (name: string, serviceName: string): ExportedSpan => {
        const found = collector.spans.find((span) => span.name === name && span.service === serviceName)
        if (found === undefined) throw new Error(`no ${name} from ${serviceName}: ${collector.spans.map((span) => `${span.service}/${span.name}`).join(', ')}`)
        return found
      }
      const webhook = find('paddle.webhook', PACKAGE_NAME)
      const processing = find('paddle.event.process', 'billing-worker')
      const derive = find('email_events.derive', 'billing-worker')
      const delivery = find('email_event.deliver', 'billing-worker')
      expect(processing.traceId).toBe(webhook.traceId)
      expect(processing.parentSpanId).toBe(webhook.spanId)
      expect(delivery.traceId).toBe(webhook.traceId)
      expect(delivery.parentSpanId).toBe(derive.spanId)
      expect(parseTraceparent(String(receiver.requests[0]?.headers.traceparent))?.traceId).toBe(webhook.traceId)
      // The pg instrumentation patched the driver in both processes.
      for (const name of [PACKAGE_NAME, 'billing-worker']) {
        expect(collector.spans.some((span) => span.service === name && span.name.startsWith('pg.query') && span.traceId === webhook.traceId), name).toBe(true)
      }
    } finally {
      service.child.kill('SIGKILL')
      worker.child.kill('SIGKILL')
      await receiver.close()
      await collector.close()
    }
  }, 60_000)
})
