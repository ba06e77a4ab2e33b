/**
 * Intake throughput: signed, unique `transaction.completed` webhooks (~10 KB, the genuine fixture with
 * fresh ids) against the built service, and in the same run the ceiling: the same inbox insert sent
 * straight through `pg` at the same concurrency.
 */
import { readFileSync } from 'node:fs'
import { signPaddlePayload } from '../src/paddle/signature.js'
import { parseEnvelope } from '../src/paddle/envelope.js'
import { projectEvent } from '../src/paddle/projection.js'
import { runLoad } from './http-load.js'
import { cpuDifference, microsPer, postgresCpuSeconds, printTable, processCpuSeconds, PROJECT_ROOT, startBuilt, straightThroughPg } from './support.js'

const SECRET = 'pdl_ntfset_01jbench00000000000000000000_BenchmarkSecret000000000000000'
const TOKEN = 'bench-internal-token-0123456789'

export interface IntakeOptions { databaseUrl: string, connections: number, durationSeconds: number }

/**
 * Unique copies of one genuine event, made cheaply (the load generator shares the machine's CPU
 * with the service and the database): the fixture's bytes with its three ids swapped for fresh ones.
 */
class UniqueEvents {
  /** Alternating [text, id, text, id, ..., text], split on the event, notification and transaction ids. */
  private readonly pieces: string[]
  private readonly projectedPieces: string[]
  private readonly transactionId: string
  private counter = 0
  private readonly runId = Date.now().toString(36)

  constructor (template: string) {
    const fixture = JSON.parse(template) as { event_id: string, notification_id: string, data: { id: string } }
    const ids = new RegExp(`(${[fixture.event_id, fixture.notification_id, fixture.data.id].join('|')})`)
    this.pieces = template.split(ids)
    this.transactionId = fixture.data.id
    const parsed = parseEnvelope(template)
    if (!parsed.ok) throw new Error(parsed.problem)
    this.projectedPieces = JSON.stringify(projectEvent(parsed.envelope, { customDataKeys: ['account_id'] }).payload)
      .split(new RegExp(`(${fixture.data.id})`))
  }

  private fresh (pieces: string[]): string[] {
    this.counter += 1
    const suffix = `${this.runId}${String(this.counter).padStart(26 - this.runId.length, '0')}`
    return pieces.map((piece, index) => index % 2 === 1 ? `${piece.slice(0, piece.indexOf('_') + 1)}${suffix}` : piece)
  }

  /** A signed webhook body for the HTTP load. */
  nextRequest (): { body: Buffer, signature: string } {
    const body = Buffer.from(this.fresh(this.pieces).join(''))
    return { body, signature: signPaddlePayload(SECRET, body, Math.floor(Date.now() / 1000)) }
  }

  /** The row the service would insert for such a request, for the straight-through-pg ceiling. */
  nextRow (): unknown[] {
    const payload = this.fresh(this.projectedPieces)
    const transactionId = payload[1] ?? this.transactionId
    const suffix = transactionId.slice(transactionId.indexOf('_') + 1)
    return [`evt_${suffix}`, `ntf_${suffix}`, 'transaction.completed', 'transaction', transactionId,
      'ctm_01hv6y1jedq4p1n0yqn5ba3ky4', 'sub_01hv8x29kz0t586xy6zn1a62ny', '2024-04-12T10:18:50.155553Z', 'webhook', payload.join('')]
  }
}

export async function benchIntake (options: IntakeOptions): Promise<void> {
  const template = readFileSync(`${PROJECT_ROOT}tests/fixtures/paddle/transaction.completed.json`, 'utf8')
  const events = new UniqueEvents(template)

  const service = await startBuilt('dist/server.js', {
    DATABASE_URL: options.databaseUrl,
    PADDLE_WEBHOOK_SECRETS: SECRET,
    INTERNAL_API_TOKENS: TOKEN,
    LOG_LEVEL: 'info',
    WORKER_ENABLED: 'false',
    DISPATCHER_ENABLED: 'false',
    SCHEDULER_ENABLED: 'false',
  })
  const sampleSize = events.nextRequest().body.length
  const load = async (durationSeconds: number) => await runLoad({
    port: service.port,
    connections: options.connections,
    durationSeconds,
    next: () => {
      const { body, signature } = events.nextRequest()
      return { method: 'POST', path: '/webhooks/paddle', headers: { 'content-type': 'application/json', 'paddle-signature': signature }, body }
    },
  })
  await load(3) // warm-up: JIT, connection pool, prepared statements
  const cpuBefore = { service: processCpuSeconds(service.child.pid), postgres: postgresCpuSeconds() }
  const intake = await load(options.durationSeconds)
  const cpu = {
    service: cpuDifference(processCpuSeconds(service.child.pid), cpuBefore.service),
    postgres: cpuDifference(postgresCpuSeconds(), cpuBefore.postgres),
  }
  await service.stop()

  // The database alone: ready-made rows, one statement (and commit) per row, on each connection.
  const ceiling = await straightThroughPg(options.databaseUrl, options.connections, options.durationSeconds,
    { name: 'inbox_insert_one', text: INSERT_ONE }, () => events.nextRow())
  printTable(`Intake: ${options.connections} connections, ${options.durationSeconds} s, body ${(sampleSize / 1024).toFixed(1)} KB`,
    ['path', 'requests/s', 'p50 ms', 'p99 ms', 'errors', 'service CPU us/req', 'postgres CPU us/req'],
    [
      ['POST /webhooks/paddle (built service)', intake.rate, intake.p50, intake.p99, intake.errors,
        microsPer(cpu.service, intake.requests), microsPer(cpu.postgres, intake.requests)],
      ['same inbox insert straight through pg', ceiling.rate, ceiling.p50, ceiling.p99, ceiling.errors,
        '-', microsPer(ceiling.postgresCpu, ceiling.requests)],
    ])
  process.stdout.write(`intake / ceiling = ${(100 * intake.rate / ceiling.rate).toFixed(1)}% (target >= 80%); ` +
    `p99 ${intake.p99.toFixed(1)} ms (target < 30 ms); errors ${intake.errors} (target 0)\n`)
}

const INSERT_ONE = `INSERT INTO paddle_inbox
    (event_id, notification_id, event_type, entity_type, entity_id, customer_id, subscription_id, occurred_at, origin, payload)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  ON CONFLICT (event_id) DO NOTHING`
