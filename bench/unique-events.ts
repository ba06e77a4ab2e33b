/**
 * Unique signed `transaction.completed` webhooks (~10 KB, the genuine fixture with fresh ids) for the
 * HTTP benchmarks, and the ceiling they are compared with: the same inbox insert the intake makes,
 * sent straight through `pg`.
 */
import { readFileSync } from 'node:fs'
import { parseEnvelope } from '../src/paddle/envelope.js'
import { projectEvent } from '../src/paddle/projection.js'
import { signPaddlePayload } from '../src/paddle/signature.js'
import type { LoadRequest } from './http-load.js'
import { PROJECT_ROOT, straightThroughPg, type StraightResult } from './support.js'

export interface UniqueEventsOptions {
  /** Signs the webhooks: one of the service's PADDLE_WEBHOOK_SECRETS. */
  secret: string
  /**
   * Also fresh customer and subscription ids, so that every event is of a new customer (a burst of
   * sign-ups); otherwise every event is a new transaction of the fixture's one customer.
   */
  newCustomers: boolean
}

interface Fixture {
  event_id: string
  notification_id: string
  occurred_at: string
  data: { id: string, customer_id: string, subscription_id: string }
}

/**
 * Unique copies of one genuine event, made cheaply (the load generator shares the machine's CPU
 * with the service and the database): the fixture's bytes with its ids swapped for fresh ones.
 */
export class UniqueEvents {
  /** Alternating [text, id, text, id, ..., text], split on the ids to swap. */
  private readonly pieces: string[]
  private readonly projectedPieces: string[]
  private readonly fixture: Fixture
  private counter = 0
  private readonly runId = Date.now().toString(36)

  constructor (template: string, private readonly options: UniqueEventsOptions) {
    this.fixture = JSON.parse(template) as Fixture
    const { data } = this.fixture
    const swapped = [this.fixture.event_id, this.fixture.notification_id, data.id,
      ...(options.newCustomers ? [data.customer_id, data.subscription_id] : [])]
    const ids = new RegExp(`(${swapped.join('|')})`)
    this.pieces = template.split(ids)
    const parsed = parseEnvelope(template)
    if (!parsed.ok) throw new Error(parsed.problem)
    this.projectedPieces = JSON.stringify(projectEvent(parsed.envelope, { customDataKeys: ['account_id'] }).payload).split(ids)
  }

  /** Copies of tests/fixtures/paddle/transaction.completed.json. */
  static transactionCompleted (options: UniqueEventsOptions): UniqueEvents {
    return new UniqueEvents(readFileSync(`${PROJECT_ROOT}tests/fixtures/paddle/transaction.completed.json`, 'utf8'), options)
  }

  /** The 26 characters after the prefix of every id of the next copy (evt_, ntf_, txn_, and ctm_, sub_ for new customers). */
  private nextSuffix (): string {
    this.counter += 1
    return `${this.runId}${String(this.counter).padStart(26 - this.runId.length, '0')}`
  }

  private static fill (pieces: string[], suffix: string): string {
    return pieces.map((piece, index) => index % 2 === 1 ? `${piece.slice(0, piece.indexOf('_') + 1)}${suffix}` : piece).join('')
  }

  /** A signed webhook request for the HTTP load. */
  nextWebhook (): LoadRequest & { body: Buffer } {
    const body = Buffer.from(UniqueEvents.fill(this.pieces, this.nextSuffix()))
    const signature = signPaddlePayload(this.options.secret, body, Math.floor(Date.now() / 1000))
    return { method: 'POST', path: '/webhooks/paddle', headers: { 'content-type': 'application/json', 'paddle-signature': signature }, body }
  }

  /** The row the service would insert for such a request, for the straight-through-pg ceiling. */
  nextRow (): unknown[] {
    const suffix = this.nextSuffix()
    const { data } = this.fixture
    const fresh = this.options.newCustomers
    return [`evt_${suffix}`, `ntf_${suffix}`, 'transaction.completed', 'transaction', `txn_${suffix}`,
      fresh ? `ctm_${suffix}` : data.customer_id, fresh ? `sub_${suffix}` : data.subscription_id,
      this.fixture.occurred_at, 'webhook', UniqueEvents.fill(this.projectedPieces, suffix)]
  }
}

const INSERT_ONE = `INSERT INTO paddle_inbox
    (event_id, notification_id, event_type, entity_type, entity_id, customer_id, subscription_id, occurred_at, origin, payload)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
  ON CONFLICT (event_id) DO NOTHING`

/**
 * The database alone, the ceiling of the intake and of the worker: `connections` clients sending
 * the intake's inbox insert with ready-made rows, one statement (and commit) per row, for `durationSeconds`.
 */
export async function straightInboxInserts (databaseUrl: string, connections: number, durationSeconds: number, events: UniqueEvents): Promise<StraightResult> {
  return await straightThroughPg(databaseUrl, connections, durationSeconds, { name: 'inbox_insert_one', text: INSERT_ONE }, () => events.nextRow())
}
