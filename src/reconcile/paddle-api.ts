/**
 * Paddle's API as reconciliation uses it. Every call goes through the official SDK, is bounded in
 * time, and is retried when that can help: a 429 after its Retry-After, a 5xx, a timeout or a
 * dropped connection, with exponential backoff and jitter. What cannot be retried (a refused key,
 * a request Paddle rejects) or still fails after the last attempt becomes a PaddleApiError whose
 * `kind` says what to do about it. Nothing here ever logs or reports the API key.
 *
 * Lists come back as Paddle sent them: the SDK's entity classes rename fields to camelCase and keep
 * only those they know, while the allow-list projection (paddle/projection.ts) reads the wire shape
 * that webhooks and the API share. So each SDK collection is told to keep the JSON it received.
 */
import { SpanKind } from '@opentelemetry/api'
import {
  ApiError, Environment, LogLevel, Paddle, type AdjustmentStatus, type NotificationStatus, type Status, type SubscriptionStatus,
  type TransactionStatus,
} from '@paddle/paddle-node-sdk'
import { isRecord } from '../paddle/envelope.js'
import { backoffWithJitter } from '../platform/backoff.js'
import { describeSpan, inSpan } from '../platform/tracing.js'

export type RawEntity = Record<string, unknown>

/** The entities a backfill lists, in the order it lists them. */
export const BACKFILL_ENTITIES = ['customer', 'subscription', 'transaction', 'adjustment'] as const
export type BackfillEntity = typeof BACKFILL_ENTITIES[number]

export interface EntityPage {
  entities: RawEntity[]
  /** Paddle's estimate of how many entities the whole list holds. */
  estimatedTotal: number
}

/**
 * - `unauthorized`: the key is missing, wrong, revoked or lacks a permission (401, 403). Not retried.
 * - `rejected`: Paddle refused this request (another 4xx, such as a replay it does not allow).
 * - `rate_limited`: still 429 after the retries, or asked to wait longer than we wait in one run.
 * - `unavailable`: 5xx, a body that is not Paddle's JSON, or no connection, after the retries.
 * - `timeout`: no answer within the time limit, after the retries.
 */
export type PaddleApiErrorKind = 'unauthorized' | 'rejected' | 'rate_limited' | 'unavailable' | 'timeout'

export class PaddleApiError extends Error {
  constructor (
    readonly operation: string,
    readonly kind: PaddleApiErrorKind,
    /** Paddle's error code (`invalid_token`, `too_many_requests`, `notification_cannot_replay`...), when it sent one. */
    readonly code: string | null,
    detail: string,
    readonly retryAfterSeconds: number | null = null
  ) {
    super(`Paddle API ${operation}: ${kind}${code === null ? '' : ` (${code})`}: ${detail}`)
    this.name = 'PaddleApiError'
  }
}

export interface PaddleApiOptions {
  apiKey: string
  /** `sandbox`, `production` or a base URL (a local stand-in in tests). */
  environment: string
  timeoutMs: number
  /** Attempts per call, the first included. */
  maxAttempts?: number
  /** First backoff delay; doubled on each retry, with up to half of it as jitter. */
  retryBaseMs?: number
  /** A Retry-After longer than this ends the run instead of holding it (the next run starts over). */
  maxRetryAfterSeconds?: number
  /** Entities per page (Paddle allows up to 200). */
  perPage?: number
  sleep?: (ms: number) => Promise<void>
  /** Told about each retry (logging). */
  onRetry?: (operation: string, attempt: number, delayMs: number, error: PaddleApiError) => void
}

export interface NotificationQuery {
  notificationSettingId: string
  statuses: NotificationStatus[]
  /** RFC 3339; Paddle filters on the notification's occurred_at. */
  from: string
  to: string
}

export interface PaddleApi {
  /** Pages of events after the given event id (from the start of Paddle's 90-day log when null), oldest first. */
  eventPages(after: string | null): AsyncGenerator<RawEntity[]>
  notificationPages(query: NotificationQuery): AsyncGenerator<RawEntity[]>
  /** Asks Paddle to deliver the notification again; resolves to the replay's notification id. */
  replayNotification(notificationId: string): Promise<string>
  /** Pages of subscriptions, every status; only the given ids when `ids` is set. */
  subscriptionPages(filter?: { ids?: string[] }): AsyncGenerator<RawEntity[]>
  /**
   * Every entity of the type, whatever its status or date, in id order (Paddle's ids sort by creation),
   * starting after the given id (from the first when null): a backfill resumes from the last id it applied.
   */
  entityPages(entity: BackfillEntity, after: string | null): AsyncGenerator<EntityPage>
}

const ALL_SUBSCRIPTION_STATUSES: SubscriptionStatus[] = ['active', 'canceled', 'past_due', 'paused', 'trialing']
// Every status, named: Paddle lists only `active` customers unless asked for the archived ones too.
const ALL_CUSTOMER_STATUSES: Status[] = ['active', 'archived']
const ALL_TRANSACTION_STATUSES: TransactionStatus[] = ['draft', 'ready', 'billed', 'paid', 'completed', 'canceled', 'past_due']
const ALL_ADJUSTMENT_STATUSES: AdjustmentStatus[] = ['pending_approval', 'approved', 'rejected', 'reversed']

/** The part of an SDK collection paging relies on. */
interface SdkCollection { hasMore: boolean, estimatedTotal: number, next(): Promise<unknown[]> }

export function createPaddleApi (options: PaddleApiOptions): PaddleApi {
  const paddle = new Paddle(options.apiKey, {
    environment: environmentOf(options.environment),
    // The SDK would otherwise write to the console; our own logs say what happened.
    logLevel: LogLevel.none,
  })
  const maxAttempts = options.maxAttempts ?? 4
  const retryBaseMs = options.retryBaseMs ?? 1000
  const maxRetryAfterSeconds = options.maxRetryAfterSeconds ?? 60
  const perPage = options.perPage ?? 200
  const sleep = options.sleep ?? (async (ms: number) => { await new Promise((resolve) => setTimeout(resolve, ms)) })

  /**
   * `idempotent: false` (a replay): after a timeout or a 5xx Paddle may have done it already, so only
   * a 429 (refused before doing anything) is retried; the caller's next run asks again if needed.
   */
  async function call<T> (operation: string, request: () => Promise<T>, { idempotent = true } = {}): Promise<T> {
    // One span per call, its retries included; its attributes name the operation and the failure, never the key.
    return await inSpan(`paddle.api ${operation}`, { kind: SpanKind.CLIENT }, async (span) => {
      describeSpan(span, () => ({ 'paddle.api.operation': operation }))
      for (let attempt = 1; ; attempt += 1) {
        let failure: PaddleApiError
        try {
          const result = await withTimeout(operation, request(), options.timeoutMs)
          describeSpan(span, () => ({ 'paddle.api.attempts': attempt }))
          return result
        } catch (error) {
          failure = classify(operation, error)
        }
        describeSpan(span, () => ({ 'paddle.api.attempts': attempt, 'paddle.api.error_kind': failure.kind, ...(failure.code === null ? {} : { 'paddle.api.error_code': failure.code }) }))
        if (!idempotent && failure.kind !== 'rate_limited') throw failure
        const delayMs = retryDelayMs(failure, attempt)
        if (delayMs === null || attempt >= maxAttempts) throw failure
        options.onRetry?.(operation, attempt, delayMs, failure)
        await sleep(delayMs)
      }
    })
  }

  function retryDelayMs (failure: PaddleApiError, attempt: number): number | null {
    if (failure.kind === 'unauthorized' || failure.kind === 'rejected') return null
    if (failure.kind === 'rate_limited' && failure.retryAfterSeconds !== null) {
      return failure.retryAfterSeconds > maxRetryAfterSeconds ? null : failure.retryAfterSeconds * 1000
    }
    return backoffWithJitter(attempt, { first: retryBaseMs })
  }

  async function * collectionPages (operation: string, collection: SdkCollection): AsyncGenerator<EntityPage> {
    // Keep Paddle's JSON instead of SDK entities (see the module comment). A failed page leaves the
    // collection where it was, so calling next() again asks for the same page.
    Object.defineProperty(collection, 'fromJson', { value: (data: unknown) => data })
    while (collection.hasMore) {
      const page = await call(operation, async () => await collection.next())
      yield { entities: page.filter(isRecord), estimatedTotal: collection.estimatedTotal }
    }
  }

  async function * pages (operation: string, collection: SdkCollection): AsyncGenerator<RawEntity[]> {
    for await (const page of collectionPages(operation, collection)) yield page.entities
  }

  // Paddle caps per_page per list (transactions 30, adjustments 50, the others 200) and answers
  // a larger request with its maximum, so one value serves them all.
  function entityCollection (entity: BackfillEntity, after: string | null): SdkCollection {
    const common = { ...(after === null ? {} : { after }), orderBy: 'id[ASC]', perPage }
    switch (entity) {
      case 'customer': return paddle.customers.list({ ...common, status: ALL_CUSTOMER_STATUSES })
      case 'subscription': return paddle.subscriptions.list({ ...common, status: ALL_SUBSCRIPTION_STATUSES })
      case 'transaction': return paddle.transactions.list({ ...common, status: ALL_TRANSACTION_STATUSES })
      case 'adjustment': return paddle.adjustments.list({ ...common, status: ALL_ADJUSTMENT_STATUSES })
    }
  }

  return {
    eventPages: (after) => pages('list events', paddle.events.list({
      ...(after === null ? {} : { after }),
      orderBy: 'id[ASC]',
      perPage,
    })),
    notificationPages: (query) => pages('list notifications', paddle.notifications.list({
      notificationSettingId: [query.notificationSettingId],
      status: query.statuses,
      from: query.from,
      to: query.to,
      orderBy: 'id[ASC]',
      perPage,
    })),
    replayNotification: async (notificationId) => {
      const replay = await call('replay notification', async () => await paddle.notifications.replay(notificationId), { idempotent: false })
      return replay.notificationId
    },
    subscriptionPages: (filter = {}) => {
      if (filter.ids?.length === 0) return noPages()
      return pages('list subscriptions', paddle.subscriptions.list({
        ...(filter.ids === undefined ? {} : { id: filter.ids }),
        status: ALL_SUBSCRIPTION_STATUSES,
        orderBy: 'id[ASC]',
        perPage,
      }))
    },
    entityPages: (entity, after) => collectionPages(`list ${entity}s`, entityCollection(entity, after)),
  }
}

// The SDK would send `id=` for an empty list, which Paddle refuses.
async function * noPages (): AsyncGenerator<RawEntity[]> {}

/** The SDK maps `sandbox` and `production` to Paddle's hosts and takes anything else as a base URL. */
function environmentOf (value: string): Environment {
  if (value === 'sandbox') return Environment.sandbox
  if (value === 'production') return Environment.production
  return value.replace(/\/+$/, '') as Environment
}

async function withTimeout<T> (operation: string, work: Promise<T>, timeoutMs: number): Promise<T> {
  // The SDK's fetch takes no AbortSignal: on timeout the request is abandoned, not cancelled.
  work.catch(() => {})
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(new PaddleApiError(operation, 'timeout', null, `no answer within ${timeoutMs} ms`)) }, timeoutMs)
  })
  try {
    return await Promise.race([work, timeout])
  } finally {
    clearTimeout(timer)
  }
}

const AUTHORIZATION_CODES = new Set(['authentication_missing', 'authentication_malformed', 'invalid_token', 'forbidden'])

export function classify (operation: string, error: unknown): PaddleApiError {
  if (error instanceof PaddleApiError) return error
  if (error instanceof ApiError) {
    if (error.code === 'too_many_requests' || error.retryAfter !== null) {
      return new PaddleApiError(operation, 'rate_limited', error.code, error.detail, error.retryAfter)
    }
    if (AUTHORIZATION_CODES.has(error.code) || error.code.startsWith('permission')) {
      return new PaddleApiError(operation, 'unauthorized', error.code, error.detail)
    }
    // Paddle types its 5xx errors `api_error` and the caller's mistakes `request_error`.
    return new PaddleApiError(operation, error.type === 'api_error' ? 'unavailable' : 'rejected', error.code, error.detail)
  }
  // fetch failed (no connection), or the body was not JSON (a proxy's error page): worth a retry.
  const detail = error instanceof SyntaxError
    ? 'the answer was not Paddle\'s JSON'
    : error instanceof Error ? error.message : String(error)
  return new PaddleApiError(operation, 'unavailable', null, detail)
}
