/**
 * A local stand-in for the part of Paddle Billing's API that reconciliation calls: GET /events,
 * GET /notifications, POST /notifications/{id}/replay, and the lists a backfill pages through:
 * GET /subscriptions, /customers, /transactions and /adjustments. Point the official SDK
 * at it with `new Paddle(standIn.apiKey, { environment: standIn.url as Environment })`: the SDK takes
 * any environment other than 'sandbox'/'production' as its base URL.
 *
 * Answers have Paddle's shapes (tests/fixtures/paddle/api/*.response.json):
 * - lists: `{ data: [...], meta: { request_id, pagination: { per_page, next, has_more, estimated_total } } }`,
 *   where `next` is a full URL on this server (the SDK follows it as it is) that keeps the request's
 *   parameters with `after` set to the last id of the page;
 * - one entity: `{ data: {...}, meta: { request_id } }`;
 * - errors: `{ error: { type, code, detail, documentation_url }, meta: { request_id } }` (plus
 *   `errors: [{ field, message }]` for `invalid_field`, as Paddle sends).
 *
 * Authentication follows Paddle's error reference (developer.paddle.com/errors/shared/...): a missing
 * header is 403 `authentication_missing`, a header that is not `Bearer <key>` is 403
 * `authentication_malformed`, a wrong key is 403 `invalid_token`, all `request_error`. Through the SDK
 * only the body is visible (ApiError has no HTTP status).
 *
 * Query parameters this stand-in does not implement are refused with 400 `invalid_field` rather than
 * ignored, so that a test can never pass by accident on a filter that was not applied.
 *
 * As Paddle does (developer.paddle.com/api-reference/customers/list-customers and siblings): customers
 * are listed `active` only unless `status` names others; a page holds at most 200 entities, 30
 * transactions or 50 adjustments, whatever `per_page` asks (and never more than `maxPerPage`).
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'

export interface StandInRequest { method: string, path: string, query: URLSearchParams, authorization: string | undefined }
export type StandInRoute = 'events' | 'notifications' | 'replay' | 'subscriptions' | 'customers' | 'transactions' | 'adjustments'
export type StandInFailure =
  | { status: 429, retryAfterSeconds: number }
  | { status: 401 | 403 | 500 | 502 | 503 }
  | { hang: true } // accept the request and never answer (until close)
  | { notJson: true } // 502 with an HTML body

export interface PaddleStandIn {
  /** Base URL, http://127.0.0.1:<port> (no trailing slash). */
  url: string
  apiKey: string
  /** The service's configuration that points it at this stand-in. */
  serviceEnv: { PADDLE_API_KEY: string, PADDLE_ENVIRONMENT: string }
  /** Raw Paddle event entities (as in events-list data[]), served by GET /events ordered by event_id ascending (plain string compare) */
  events: Array<Record<string, unknown>>
  /** Raw notification entities (as in notifications-list data[]) */
  notifications: Array<Record<string, unknown>>
  /** Raw subscription entities (the same shape as a subscription webhook's `data`) */
  subscriptions: Array<Record<string, unknown>>
  /** Raw customer, transaction and adjustment entities (each the shape of its webhooks' `data`) */
  customers: Array<Record<string, unknown>>
  transactions: Array<Record<string, unknown>>
  adjustments: Array<Record<string, unknown>>
  /** Every request received, in order, recorded before any failure, authentication or routing. */
  requests: StandInRequest[]
  /** Notification ids replay was asked for (only the successful ones) */
  replayed: string[]
  /** Called for each successful replay (a test may deliver the payload as a signed webhook) */
  onReplay: ((notification: Record<string, unknown>) => Promise<void>) | null
  /**
   * The next `times` (default 1) requests to this route fail this way, then it serves normally again.
   * With `afterServed`, that many requests of the route are first served normally (fail page 2, not 1).
   */
  failNext(route: StandInRoute, failure: StandInFailure, times?: number, options?: { afterServed?: number }): void
  /**
   * Milliseconds an answer waits before it is sent (default 0), after the request was recorded and
   * counted: lets two concurrent callers overlap, or a caller time out while the work is done anyway.
   * One number for every route, or per route. Failures wait too; a `hang` still never answers.
   */
  responseDelayMs: number | Partial<Record<StandInRoute, number>>
  /** Count of requests per route, handy for assertions */
  count(route: StandInRoute): number
  close(): Promise<void>
}

type Entity = Record<string, unknown>

const DEFAULT_API_KEY = 'pdl_sdbx_apikey_01standin000000000000000000_StandInKeyForTests00000'
const DEFAULT_PER_PAGE = 50
const DEFAULT_MAX_PER_PAGE = 200
/** Paddle answers 403 to a missing, malformed or unknown API key (see the module comment). */
const AUTHENTICATION_FAILURE_STATUS = 403
const REPLAYABLE_STATUSES = new Set(['delivered', 'failed'])

export async function startPaddleStandIn (options: { apiKey?: string, maxPerPage?: number } = {}): Promise<PaddleStandIn> {
  const maxPerPage = options.maxPerPage ?? DEFAULT_MAX_PER_PAGE
  if (!Number.isInteger(maxPerPage) || maxPerPage < 1) throw new TypeError(`maxPerPage must be a positive integer, not ${maxPerPage}`)

  const sockets = new Set<Socket>()
  const failures = new Map<StandInRoute, Array<{ failure: StandInFailure, remaining: number, served: number }>>()
  const counts = new Map<StandInRoute, number>()
  let closing: Promise<void> | null = null

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      // A bug here or in onReplay: answer as Paddle does to its own failures, naming the cause.
      answerError(response, apiError(500, 'internal_error', `Stand-in failure: ${error instanceof Error ? error.message : String(error)}`))
    })
  })
  server.on('connection', (socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject)
      resolve()
    })
  })
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  const apiKey = options.apiKey ?? DEFAULT_API_KEY
  const standIn: PaddleStandIn = {
    url,
    apiKey,
    serviceEnv: { PADDLE_API_KEY: apiKey, PADDLE_ENVIRONMENT: url },
    events: [],
    notifications: [],
    subscriptions: [],
    customers: [],
    transactions: [],
    adjustments: [],
    requests: [],
    replayed: [],
    onReplay: null,
    responseDelayMs: 0,
    failNext (route, failure, times = 1, options = {}) {
      if (!Number.isInteger(times) || times < 1) throw new TypeError(`times must be a positive integer, not ${times}`)
      const served = options.afterServed ?? 0
      if (!Number.isInteger(served) || served < 0) throw new TypeError(`afterServed must be a non-negative integer, not ${served}`)
      const queue = failures.get(route) ?? []
      queue.push({ failure, remaining: times, served })
      failures.set(route, queue)
    },
    count: (route) => counts.get(route) ?? 0,
    async close () {
      closing ??= (async () => {
        const closed = new Promise<void>((resolve) => server.close(() => resolve()))
        for (const socket of sockets) socket.destroy()
        await closed
      })()
      await closing
    },
  }

  function takeFailure (route: StandInRoute): StandInFailure | null {
    const queue = failures.get(route)
    const next = queue?.[0]
    if (queue === undefined || next === undefined) return null
    if (next.served > 0) {
      next.served -= 1
      return null
    }
    next.remaining -= 1
    if (next.remaining === 0) queue.shift()
    return next.failure
  }

  async function handle (request: IncomingMessage, response: ServerResponse): Promise<void> {
    request.on('error', () => {})
    request.resume() // no operation here reads a body; drain it (the SDK sends none for a replay)
    const method = request.method ?? 'GET'
    const target = new URL(request.url ?? '/', url)
    const authorization = request.headers.authorization
    standIn.requests.push({ method, path: target.pathname, query: target.searchParams, authorization })

    const { route, notificationId } = routeOf(method, target.pathname)
    if (route !== null) {
      counts.set(route, (counts.get(route) ?? 0) + 1)
      const failure = takeFailure(route)
      const delayMs = typeof standIn.responseDelayMs === 'number' ? standIn.responseDelayMs : standIn.responseDelayMs[route] ?? 0
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs))
      if (failure !== null) {
        fail(response, failure)
        return
      }
    }

    const refusal = authenticationError(authorization, standIn.apiKey)
    if (refusal !== null) {
      answerError(response, refusal)
      return
    }

    const query = target.searchParams
    switch (route) {
      case 'events':
        answerList(response, standIn.events, query, EVENTS)
        return
      case 'notifications':
        answerList(response, standIn.notifications, query, NOTIFICATIONS)
        return
      case 'subscriptions':
        answerList(response, standIn.subscriptions, query, SUBSCRIPTIONS)
        return
      case 'customers':
        answerList(response, standIn.customers, query, CUSTOMERS)
        return
      case 'transactions':
        answerList(response, standIn.transactions, query, TRANSACTIONS)
        return
      case 'adjustments':
        answerList(response, standIn.adjustments, query, ADJUSTMENTS)
        return
      case 'replay':
        await replay(response, notificationId ?? '')
        return
      default:
        answerError(response, requestError(404, 'not_found', `Requested path ${method} ${target.pathname} not found.`))
    }
  }

  function answerList (response: ServerResponse, entities: Entity[], query: URLSearchParams, spec: ListSpec): void {
    const page = listPage(entities, query, spec, maxPerPage, url)
    if ('error' in page) answerError(response, page)
    else answer(response, 200, page)
  }

  async function replay (response: ServerResponse, notificationId: string): Promise<void> {
    const original = standIn.notifications.find((notification) => notification.id === notificationId)
    if (original === undefined) {
      answerError(response, requestError(404, 'not_found', `Entity ${notificationId} not found`))
      return
    }
    // Origin first: the notification a replay creates is `not_attempted` and has origin `replay`,
    // and replaying it must say that it is a replay, not that it is still in flight.
    if (original.origin !== 'event') {
      answerError(response, requestError(400, 'notification_replay_invalid_origin_type', 'Only notifications with the origin `event` can be replayed.', 'notifications'))
      return
    }
    if (typeof original.status !== 'string' || !REPLAYABLE_STATUSES.has(original.status)) {
      answerError(response, requestError(400, 'notification_cannot_replay', `Notification ${notificationId} can't be replayed because it's not \`delivered\` or \`failed\`.`, 'notifications'))
      return
    }

    // Paddle creates a new notification for the same event and answers with the NEW notification's id.
    const replayId = paddleId('ntf')
    original.replayed_at = paddleTimestamp()
    const copy = structuredClone(original)
    const created: Entity = {
      ...copy,
      id: replayId,
      status: 'not_attempted',
      payload: isRecord(copy.payload) ? { ...copy.payload, notification_id: replayId } : copy.payload,
      delivered_at: null,
      replayed_at: null,
      origin: 'replay',
      last_attempt_at: null,
      retry_at: null,
      times_attempted: 0,
    }
    standIn.replayed.push(notificationId)
    standIn.notifications.push(created)
    if (standIn.onReplay !== null) await standIn.onReplay(created)
    answer(response, 202, { data: { notification_id: replayId }, meta: { request_id: randomUUID() } })
  }

  return standIn
}

// --- Routing and authentication ---------------------------------------------------------------

function routeOf (method: string, path: string): { route: StandInRoute | null, notificationId?: string } {
  if (method === 'GET' && path === '/events') return { route: 'events' }
  if (method === 'GET' && path === '/notifications') return { route: 'notifications' }
  if (method === 'GET' && path === '/subscriptions') return { route: 'subscriptions' }
  if (method === 'GET' && path === '/customers') return { route: 'customers' }
  if (method === 'GET' && path === '/transactions') return { route: 'transactions' }
  if (method === 'GET' && path === '/adjustments') return { route: 'adjustments' }
  const replay = /^\/notifications\/([^/]+)\/replay$/.exec(path)
  if (method === 'POST' && replay?.[1] !== undefined) return { route: 'replay', notificationId: decodeURIComponent(replay[1]) }
  return { route: null }
}

function authenticationError (authorization: string | undefined, apiKey: string): PaddleError | null {
  if (authorization === undefined || authorization.trim() === '') {
    return requestError(AUTHENTICATION_FAILURE_STATUS, 'authentication_missing', 'Authentication header missing.')
  }
  const bearer = /^bearer +(\S+) *$/i.exec(authorization)
  if (bearer === null) {
    return requestError(AUTHENTICATION_FAILURE_STATUS, 'authentication_malformed', 'Authentication header included, but incorrectly formatted.')
  }
  if (bearer[1] !== apiKey) return requestError(AUTHENTICATION_FAILURE_STATUS, 'invalid_token', 'Invalid or revoked API key.')
  return null
}

// --- Lists ------------------------------------------------------------------------------------

interface ListSpec {
  path: '/events' | '/notifications' | '/subscriptions' | '/customers' | '/transactions' | '/adjustments'
  /** The entity's id field: `after` and `order_by=id[...]` work on it. */
  idField: 'event_id' | 'id'
  /** Filters taking a comma-separated list; an entity matches when its value is one of them. */
  listFilters: Record<string, (entity: Entity) => unknown[]>
  /** `from`/`to` (RFC 3339) on this field: from inclusive, to exclusive. */
  timeField?: string
  /** Paddle's own largest page for this list (default 200). */
  maxPerPage?: number
  /** Filters Paddle applies when the request names none (customers: `status=active`). */
  defaults?: Record<string, string>
}

const EVENTS: ListSpec = {
  path: '/events',
  idField: 'event_id',
  listFilters: { event_type: (event) => [event.event_type] },
}

const NOTIFICATIONS: ListSpec = {
  path: '/notifications',
  idField: 'id',
  listFilters: {
    notification_setting_id: (notification) => [notification.notification_setting_id],
    status: (notification) => [notification.status],
  },
  timeField: 'occurred_at',
}

const SUBSCRIPTIONS: ListSpec = {
  path: '/subscriptions',
  idField: 'id',
  listFilters: {
    id: (subscription) => [subscription.id],
    status: (subscription) => [subscription.status],
    customer_id: (subscription) => [subscription.customer_id],
    address_id: (subscription) => [subscription.address_id],
    collection_mode: (subscription) => [subscription.collection_mode],
    price_id: (subscription) => Array.isArray(subscription.items)
      ? subscription.items.map((item: unknown) => isRecord(item) && isRecord(item.price) ? item.price.id : undefined)
      : [],
    scheduled_change_action: (subscription) => [isRecord(subscription.scheduled_change) ? subscription.scheduled_change.action : undefined],
  },
}

const CUSTOMERS: ListSpec = {
  path: '/customers',
  idField: 'id',
  listFilters: {
    id: (customer) => [customer.id],
    status: (customer) => [customer.status],
    email: (customer) => [customer.email],
  },
  defaults: { status: 'active' },
}

const TRANSACTIONS: ListSpec = {
  path: '/transactions',
  idField: 'id',
  listFilters: {
    id: (transaction) => [transaction.id],
    status: (transaction) => [transaction.status],
    customer_id: (transaction) => [transaction.customer_id],
    subscription_id: (transaction) => [transaction.subscription_id],
    origin: (transaction) => [transaction.origin],
    collection_mode: (transaction) => [transaction.collection_mode],
    invoice_number: (transaction) => [transaction.invoice_number],
  },
  maxPerPage: 30,
}

const ADJUSTMENTS: ListSpec = {
  path: '/adjustments',
  idField: 'id',
  listFilters: {
    id: (adjustment) => [adjustment.id],
    status: (adjustment) => [adjustment.status],
    action: (adjustment) => [adjustment.action],
    customer_id: (adjustment) => [adjustment.customer_id],
    subscription_id: (adjustment) => [adjustment.subscription_id],
    transaction_id: (adjustment) => [adjustment.transaction_id],
  },
  maxPerPage: 50,
}

const ORDERS = new Set(['id[ASC]', 'id[DESC]'])

function listPage (entities: Entity[], query: URLSearchParams, spec: ListSpec, standInMaxPerPage: number, baseUrl: string): PaddleList | PaddleError {
  const maxPerPage = Math.min(standInMaxPerPage, spec.maxPerPage ?? DEFAULT_MAX_PER_PAGE)
  const invalid = (field: string, message: string): PaddleError => invalidField(field, message)
  const allowed = new Set(['after', 'order_by', 'per_page', ...Object.keys(spec.listFilters), ...(spec.timeField === undefined ? [] : ['from', 'to'])])
  for (const key of new Set(query.keys())) {
    if (!allowed.has(key)) return invalid(key, `the Paddle stand-in does not implement the query parameter \`${key}\` here`)
  }
  const single = (key: string): string | null => {
    const values = query.getAll(key)
    return values.length === 0 ? spec.defaults?.[key] ?? null : values.join(',')
  }

  const perPageText = single('per_page')
  let perPage = Math.min(DEFAULT_PER_PAGE, maxPerPage)
  if (perPageText !== null) {
    if (!/^\d+$/.test(perPageText) || Number(perPageText) < 1) return invalid('per_page', 'must be a positive integer')
    perPage = Math.min(Number(perPageText), maxPerPage)
  }
  const order = single('order_by') ?? 'id[ASC]'
  if (!ORDERS.has(order)) return invalid('order_by', 'the Paddle stand-in orders by `id[ASC]` or `id[DESC]` only')
  const descending = order === 'id[DESC]'

  const filters: Array<(entity: Entity) => boolean> = []
  for (const [key, valuesOf] of Object.entries(spec.listFilters)) {
    const text = single(key)
    if (text === null) continue
    const wanted = text.split(',')
    // The SDK sends an empty array as `key=`: Paddle validates each value, and so does this.
    if (wanted.some((value) => value === '')) return invalid(key, 'must not contain an empty value')
    filters.push((entity) => valuesOf(entity).some((value) => typeof value === 'string' && wanted.includes(value)))
  }
  if (spec.timeField !== undefined) {
    const field = spec.timeField
    for (const key of ['from', 'to'] as const) {
      const text = single(key)
      if (text === null) continue
      const bound = toMicroseconds(text)
      if (bound === null) return invalid(key, 'must be an RFC 3339 datetime string')
      filters.push((entity) => {
        const at = typeof entity[field] === 'string' ? toMicroseconds(entity[field]) : null
        return at !== null && (key === 'from' ? at >= bound : at < bound)
      })
    }
  }

  const idOf = (entity: Entity): string => String(entity[spec.idField])
  const matching = entities
    .filter((entity) => filters.every((matches) => matches(entity)))
    .sort((a, b) => compare(idOf(a), idOf(b)) * (descending ? -1 : 1))
  const after = single('after')
  const remaining = after === null
    ? matching
    : matching.filter((entity) => descending ? idOf(entity) < after : idOf(entity) > after)
  const data = remaining.slice(0, perPage)

  const lastId = data.length > 0 ? idOf(data[data.length - 1] as Entity) : after
  const nextQuery = new URLSearchParams()
  if (lastId !== null) nextQuery.set('after', lastId)
  for (const [key, value] of query) if (key !== 'after') nextQuery.append(key, value)

  return {
    data,
    meta: {
      request_id: randomUUID(),
      pagination: {
        per_page: perPage,
        next: `${baseUrl}${spec.path}?${nextQuery.toString()}`,
        has_more: remaining.length > data.length,
        estimated_total: matching.length,
      },
    },
  }
}

function compare (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

const RFC_3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/i

/** Microseconds since the epoch: Paddle's timestamps have six fractional digits, more than Date keeps. */
function toMicroseconds (value: string): number | null {
  const match = RFC_3339.exec(value)
  if (match === null) return null
  const milliseconds = Date.parse(`${match[1]}${match[3]}`)
  if (Number.isNaN(milliseconds)) return null
  return milliseconds * 1000 + Number((match[2] ?? '').padEnd(6, '0').slice(0, 6))
}

// --- Answers ----------------------------------------------------------------------------------

interface PaddleList {
  data: Entity[]
  meta: { request_id: string, pagination: { per_page: number, next: string, has_more: boolean, estimated_total: number } }
}

interface PaddleError {
  status: number
  error: { type: 'request_error' | 'api_error', code: string, detail: string, documentation_url: string, errors?: Array<{ field: string, message: string }> }
}

function requestError (status: number, code: string, detail: string, section = 'shared'): PaddleError {
  return { status, error: { type: 'request_error', code, detail, documentation_url: `https://developer.paddle.com/errors/${section}/${code}` } }
}

function apiError (status: number, code: string, detail: string): PaddleError {
  return { status, error: { type: 'api_error', code, detail, documentation_url: `https://developer.paddle.com/errors/shared/${code}` } }
}

function invalidField (field: string, message: string): PaddleError {
  const error = requestError(400, 'invalid_field', 'Invalid request.')
  error.error.errors = [{ field, message }]
  return error
}

function fail (response: ServerResponse, failure: StandInFailure): void {
  if ('hang' in failure) return // never answered; close() destroys the socket
  if ('notJson' in failure) {
    send(response, 502, 'text/html', '<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n')
    return
  }
  if (failure.status === 429) {
    answerError(response, apiError(429, 'too_many_requests', 'IP address exceeded the allowed rate limit. Retry after the number of seconds in the Retry-After header.'),
      { 'retry-after': String(failure.retryAfterSeconds) })
    return
  }
  answerError(response, CANNED_FAILURES[failure.status])
}

/** Paddle's own answers to the other failures failNext() can ask for. */
const CANNED_FAILURES: Record<Exclude<StandInFailure, { status: 429 } | { hang: true } | { notJson: true }>['status'], PaddleError> = {
  401: requestError(401, 'invalid_token', 'Invalid or revoked API key.'),
  403: requestError(403, 'forbidden', 'You aren\'t permitted to perform this request.'),
  500: apiError(500, 'internal_error', 'Problem processing your request. The Paddle team has been notified.'),
  502: apiError(502, 'bad_gateway', 'Endpoint can\'t process your request. The Paddle team has been notified.'),
  503: apiError(503, 'service_unavailable', 'Service is temporarily unavailable. Try again later.'),
}

function answerError (response: ServerResponse, failure: PaddleError, headers: Record<string, string> = {}): void {
  answer(response, failure.status, { error: failure.error, meta: { request_id: randomUUID() } }, headers)
}

function answer<Body extends { meta: { request_id: string } }> (response: ServerResponse, status: number, body: Body, headers: Record<string, string> = {}): void {
  send(response, status, 'application/json', JSON.stringify(body), { 'request-id': body.meta.request_id, ...headers })
}

function send (response: ServerResponse, status: number, contentType: string, body: string, headers: Record<string, string> = {}): void {
  if (response.destroyed || response.writableEnded) return // closed meanwhile (close() during onReplay)
  response.writeHead(status, { 'content-type': contentType, 'content-length': Buffer.byteLength(body), ...headers })
  response.end(body)
}

// --- Ids and times ----------------------------------------------------------------------------

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz'
let lastIdTime = -1
let lastIdRandom: number[] = []

/**
 * A Paddle-shaped id (`ntf_` + 26 lowercase characters, a ULID as Paddle's are): later ids sort after
 * earlier ones and after the fixtures' 2023-2024 ids, so `after` cursors see new entities.
 */
function paddleId (prefix: string): string {
  const now = Date.now()
  if (now > lastIdTime) {
    lastIdTime = now
    lastIdRandom = [...randomBytes(16)].map((byte) => byte % 32)
  } else {
    for (let index = lastIdRandom.length - 1; index >= 0; index -= 1) {
      lastIdRandom[index] = ((lastIdRandom[index] ?? 0) + 1) % 32
      if (lastIdRandom[index] !== 0) break
    }
  }
  let time = ''
  for (let rest = lastIdTime, index = 0; index < 10; index += 1, rest = Math.floor(rest / 32)) time = CROCKFORD[rest % 32] + time
  return `${prefix}_${time}${lastIdRandom.map((digit) => CROCKFORD[digit]).join('')}`
}

/** Now, as Paddle writes times: RFC 3339 in UTC with six fractional digits. */
function paddleTimestamp (): string {
  return new Date().toISOString().replace(/\.(\d{3})Z$/, '.$1000Z')
}

function isRecord (value: unknown): value is Entity {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}
