/**
 * The Paddle API stand-in (helpers/paddle-stand-in.ts), driven through the official SDK exactly as
 * reconciliation drives it, and checked against Paddle's own example responses (fixtures/paddle/api).
 */
import { readFileSync } from 'node:fs'
import { ApiError, LogLevel, Paddle, ReplayNotification, type Environment } from '@paddle/paddle-node-sdk'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { startPaddleStandIn, type PaddleStandIn } from '../helpers/paddle-stand-in.js'

type Entity = Record<string, any>
interface ListBody { data: Entity[], meta: { request_id: string, pagination: { per_page: number, next: string, has_more: boolean, estimated_total: number } } }

const FIXTURES = new URL('../fixtures/paddle/', import.meta.url)
const readJson = <T = Entity>(path: string): T => JSON.parse(readFileSync(new URL(path, FIXTURES), 'utf8')) as T

const EVENTS_LIST = readJson<ListBody>('api/events-list.response.json')
const NOTIFICATIONS_LIST = readJson<ListBody>('api/notifications-list.response.json')
const NOTIFICATION_GET = readJson('api/notification-get.response.json')
const NOTIFICATION_REPLAY = readJson('api/notification-replay.response.json')
const SUBSCRIPTION_CREATED = readJson('subscription.created.json')

/** The destination every fixture notification belongs to. */
const OUR_SETTING = 'ntfset_01hv6scjn6ex5bej5bdy4w9ax3'
const OTHER_SETTING = 'ntfset_01hzzzzzzzzzzzzzzzzzzzzzzz'
const FAILED_CUSTOMER_CREATED = 'ntf_01hv97gex1eh5dgk66zdvx2nnv'
const FAILED_ADDRESS_CREATED = 'ntf_01hv97gev5hj84053cj191q10h'
const NEEDS_RETRY = 'ntf_01hw0000000000000000000001'
const ELSEWHERE_FAILED = 'ntf_01hw0000000000000000000002'
const NOT_ATTEMPTED = 'ntf_01hw0000000000000000000003'

const clone = <T>(value: T): T => structuredClone(value)

/** A small customer.created event, not from a fixture. */
function handMadeEvent (eventId: string, occurredAt: string): Entity {
  return {
    event_id: eventId,
    event_type: 'customer.created',
    occurred_at: occurredAt,
    data: {
      id: 'ctm_01hw00000000000000000000cu',
      name: null,
      email: 'pat@example.com',
      locale: 'en',
      status: 'active',
      created_at: occurredAt,
      updated_at: occurredAt,
      custom_data: null,
      import_meta: null,
      marketing_consent: false,
    },
  }
}

function handMadeNotification (id: string, status: string, settingId: string, occurredAt: string): Entity {
  const event = handMadeEvent(`evt_${id.slice(4)}`, occurredAt)
  return {
    id,
    type: event.event_type,
    status,
    payload: { ...event, notification_id: id },
    occurred_at: occurredAt,
    delivered_at: null,
    replayed_at: null,
    origin: 'event',
    last_attempt_at: status === 'not_attempted' ? null : occurredAt,
    retry_at: status === 'needs_retry' ? '2024-04-20T10:00:00.000000Z' : null,
    times_attempted: status === 'not_attempted' ? 0 : 3,
    notification_setting_id: settingId,
  }
}

function subscription (id: string, status: string): Entity {
  return { ...clone(SUBSCRIPTION_CREATED.data), id, status }
}

const SUB_A = 'sub_01hv8y5ehszzq0yv20ttx3166a'
const SUB_B = 'sub_01hv8y5ehszzq0yv20ttx3166b'
const SUB_C = 'sub_01hv8y5ehszzq0yv20ttx3166c'

/** The keys of a Paddle answer, to compare its shape with a fixture's. */
function shapeOf (body: Entity): Record<string, string[]> {
  const keys = (value: unknown): string[] => typeof value === 'object' && value !== null ? Object.keys(value).sort() : []
  return {
    top: keys(body),
    meta: keys(body.meta),
    pagination: keys(body.meta?.pagination),
    data: Array.isArray(body.data) ? [] : keys(body.data),
    error: keys(body.error),
  }
}

async function caught (promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise
  } catch (error) {
    return error
  }
  throw new Error('expected a rejection')
}

describe('Paddle API stand-in, through @paddle/paddle-node-sdk', () => {
  let standIn: PaddleStandIn

  beforeEach(async () => { standIn = await startPaddleStandIn() })
  afterEach(async () => { await standIn.close() })

  const sdk = (apiKey = standIn.apiKey, target = standIn) =>
    new Paddle(apiKey, { environment: target.url as Environment, logLevel: LogLevel.none })

  async function raw (path: string, init: { method?: string, authorization?: string | null } = {}): Promise<{ status: number, headers: Headers, body: any }> {
    const headers: Record<string, string> = {}
    if (init.authorization !== null) headers.authorization = init.authorization ?? `Bearer ${standIn.apiKey}`
    const response = await fetch(`${standIn.url}${path}`, { method: init.method ?? 'GET', headers })
    const text = await response.text()
    return { status: response.status, headers: response.headers, body: response.headers.get('content-type') === 'application/json' ? JSON.parse(text) : text }
  }

  describe('GET /events', () => {
    beforeEach(() => {
      // The fixture lists newest first; one hand-made event sorts after all of them.
      standIn.events = [...clone(EVENTS_LIST.data), handMadeEvent('evt_01hw00000000000000000000ev', '2024-04-20T09:00:00.000000Z')]
    })

    it('pages through every event in id order, following meta.pagination.next', async () => {
      const ids = standIn.events.map((event) => event.event_id as string).sort()
      const seen: string[] = []
      for await (const event of sdk().events.list({ orderBy: 'id[ASC]', perPage: 2 })) seen.push(event.eventId)

      expect(seen).toHaveLength(13)
      expect(seen).toEqual(ids)
      expect(standIn.count('events')).toBe(7)
      const pages = standIn.requests.filter((request) => request.path === '/events')
      expect(pages.map((request) => request.query.get('after'))).toEqual([null, ids[1], ids[3], ids[5], ids[7], ids[9], ids[11]])
      for (const page of pages) {
        expect(page.method).toBe('GET')
        expect(page.query.get('order_by')).toBe('id[ASC]')
        expect(page.query.get('per_page')).toBe('2')
        // The SDK's own spelling of the scheme.
        expect(page.authorization).toBe(`bearer ${standIn.apiKey}`)
      }
    })

    it('answers with the shape of Paddle\'s example, a next link on this server and the total', async () => {
      const first = await raw('/events?order_by=id%5BASC%5D&per_page=5')
      expect(first.status).toBe(200)
      expect(shapeOf(first.body)).toEqual(shapeOf(EVENTS_LIST))
      expect(first.headers.get('request-id')).toBe(first.body.meta.request_id)
      const ids = standIn.events.map((event) => event.event_id as string).sort()
      expect(first.body.data.map((event: Entity) => event.event_id)).toEqual(ids.slice(0, 5))
      expect(first.body.data[0]).toEqual(EVENTS_LIST.data.find((event) => event.event_id === ids[0]))
      expect(first.body.meta.pagination).toEqual({
        per_page: 5,
        next: `${standIn.url}/events?after=${ids[4]}&order_by=id%5BASC%5D&per_page=5`,
        has_more: true,
        estimated_total: 13,
      })

      const last = await raw(`/events?after=${ids[9]}&order_by=id%5BASC%5D&per_page=5`)
      expect(last.body.data.map((event: Entity) => event.event_id)).toEqual(ids.slice(10))
      expect(last.body.meta.pagination).toMatchObject({ has_more: false, estimated_total: 13 })
    })

    it('orders by id[DESC] with `after` continuing downwards, and filters by event_type', async () => {
      const ids = standIn.events.map((event) => event.event_id as string).sort().reverse()
      const first = await raw('/events?order_by=id%5BDESC%5D&per_page=4')
      expect(first.body.data.map((event: Entity) => event.event_id)).toEqual(ids.slice(0, 4))
      const second = await raw(first.body.meta.pagination.next.slice(standIn.url.length))
      expect(second.body.data.map((event: Entity) => event.event_id)).toEqual(ids.slice(4, 8))

      const typed = await raw('/events?event_type=subscription.created,subscription.activated')
      expect(typed.body.data.map((event: Entity) => event.event_type).sort()).toEqual(['subscription.activated', 'subscription.created'])
    })

    it('resumes after a given event id, serves 50 a page by default and caps per_page at maxPerPage', async () => {
      const ids = standIn.events.map((event) => event.event_id as string).sort()
      const page = await sdk().events.list({ after: ids[10], orderBy: 'id[ASC]' }).next()
      expect(page.map((event) => event.eventId)).toEqual(ids.slice(11))
      expect((await raw('/events')).body.meta.pagination.per_page).toBe(50)

      const small = await startPaddleStandIn({ maxPerPage: 3 })
      try {
        small.events = clone(standIn.events)
        const response = await fetch(`${small.url}/events?per_page=100`, { headers: { authorization: `Bearer ${small.apiKey}` } })
        const body = await response.json() as ListBody
        expect(body.data).toHaveLength(3)
        expect(body.meta.pagination).toMatchObject({ per_page: 3, has_more: true, estimated_total: 13 })
      } finally {
        await small.close()
      }
    })

    it('refuses query parameters it does not implement, and bad values, as Paddle refuses invalid fields', async () => {
      for (const query of ['search=x', 'order_by=occurred_at%5BASC%5D', 'per_page=0', 'per_page=ten']) {
        const answer = await raw(`/events?${query}`)
        expect(answer.status, query).toBe(400)
        expect(answer.body.error).toMatchObject({ type: 'request_error', code: 'invalid_field' })
      }
    })
  })

  describe('GET /notifications', () => {
    beforeEach(() => {
      standIn.notifications = [
        ...clone(NOTIFICATIONS_LIST.data),
        clone(NOTIFICATION_GET.data),
        handMadeNotification(NEEDS_RETRY, 'needs_retry', OUR_SETTING, '2024-04-19T10:00:00.000000Z'),
        handMadeNotification(ELSEWHERE_FAILED, 'failed', OTHER_SETTING, '2024-04-19T11:00:00.000000Z'),
        handMadeNotification(NOT_ATTEMPTED, 'not_attempted', OUR_SETTING, '2024-04-19T12:00:00.000000Z'),
      ]
    })

    it('filters by notification setting and status, as the SDK sends them (comma-joined, snake_case)', async () => {
      const found = []
      for await (const notification of sdk().notifications.list({ notificationSettingId: [OUR_SETTING], status: ['failed', 'needs_retry'] })) {
        found.push(notification)
      }

      const expected = [FAILED_ADDRESS_CREATED, FAILED_CUSTOMER_CREATED, NOTIFICATION_GET.data.id, NEEDS_RETRY].sort()
      expect(found.map((notification) => notification.id)).toEqual(expected)
      expect(found.every((notification) => notification.notificationSettingId === OUR_SETTING)).toBe(true)
      expect(found.map((notification) => notification.status).sort()).toEqual(['failed', 'failed', 'failed', 'needs_retry'])
      const [request] = standIn.requests
      expect(request?.query.get('notification_setting_id')).toBe(OUR_SETTING)
      expect(request?.query.get('status')).toBe('failed,needs_retry')

      const both = await raw(`/notifications?notification_setting_id=${OUR_SETTING},${OTHER_SETTING}&status=failed`)
      expect(both.body.data.map((notification: Entity) => notification.id)).toContain(ELSEWHERE_FAILED)
      expect(shapeOf(both.body)).toEqual(shapeOf(NOTIFICATIONS_LIST))
    })

    it('filters on occurred_at from (inclusive) to (exclusive), to the microsecond', async () => {
      const ids = async (from: string, to: string): Promise<string[]> => {
        const found = []
        for await (const notification of sdk().notifications.list({ from, to })) found.push(notification.id)
        return found
      }
      // ntf_01hv97gev5... occurred at 13:21:18.602413, ntf_01hv97gex1... at 13:21:18.684096.
      expect(await ids('2024-04-12T13:21:18.602413Z', '2024-04-12T13:21:18.684096Z')).toEqual([FAILED_ADDRESS_CREATED])
      expect(await ids('2024-04-12T13:21:18.602414Z', '2024-04-12T13:21:18.684097Z')).toEqual([FAILED_CUSTOMER_CREATED])
      expect(await ids('2024-04-12T15:21:18.602413+02:00', '2024-04-12T13:21:18.684097Z')).toEqual([FAILED_ADDRESS_CREATED, FAILED_CUSTOMER_CREATED])
      expect((await raw('/notifications?from=yesterday')).body.error.code).toBe('invalid_field')
    })

    it('pages with `after` on the notification id', async () => {
      const all = standIn.notifications.map((notification) => notification.id as string).sort()
      const seen: string[] = []
      for await (const notification of sdk().notifications.list({ orderBy: 'id[ASC]', perPage: 3 })) seen.push(notification.id)
      expect(seen).toEqual(all)
      expect(standIn.count('notifications')).toBe(3)
    })
  })

  describe('POST /notifications/{id}/replay', () => {
    beforeEach(() => {
      standIn.notifications = [
        ...clone(NOTIFICATIONS_LIST.data),
        handMadeNotification(NEEDS_RETRY, 'needs_retry', OUR_SETTING, '2024-04-19T10:00:00.000000Z'),
      ]
    })

    it('creates a new notification for the same event and answers with the new notification\'s id', async () => {
      const delivered: Entity[] = []
      standIn.onReplay = async (notification) => { delivered.push(notification) }
      const original = standIn.notifications.find((notification) => notification.id === FAILED_CUSTOMER_CREATED) as Entity
      const before = clone(original)

      const replay = await sdk().notifications.replay(FAILED_CUSTOMER_CREATED)

      expect(replay).toBeInstanceOf(ReplayNotification)
      expect(replay.notificationId).toMatch(/^ntf_[a-z\d]{26}$/)
      expect(replay.notificationId).not.toBe(FAILED_CUSTOMER_CREATED)
      // Later than every fixture id, so an `after` cursor still finds it.
      expect(standIn.notifications.every((notification) => String(notification.id) <= replay.notificationId)).toBe(true)
      expect(standIn.replayed).toEqual([FAILED_CUSTOMER_CREATED])
      expect(standIn.requests.map((request) => `${request.method} ${request.path}`)).toEqual([`POST /notifications/${FAILED_CUSTOMER_CREATED}/replay`])

      expect(original.replayed_at).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/)
      expect({ ...original, replayed_at: null }).toEqual(before)
      const created = standIn.notifications.at(-1) as Entity
      expect(created).toEqual({
        ...before,
        id: replay.notificationId,
        status: 'not_attempted',
        payload: { ...before.payload, notification_id: replay.notificationId },
        delivered_at: null,
        replayed_at: null,
        origin: 'replay',
        last_attempt_at: null,
        retry_at: null,
        times_attempted: 0,
      })
      expect(created.payload.event_id).toBe(before.payload.event_id)
      expect(delivered).toEqual([created])
      expect(delivered[0]).toBe(created)

      // It is listed like any other notification, and the SDK reads it.
      const listed = []
      for await (const notification of sdk().notifications.list({ status: ['not_attempted'] })) listed.push(notification)
      expect(listed.map((notification) => [notification.id, notification.origin, notification.payload.notificationId])).toEqual([
        [replay.notificationId, 'replay', replay.notificationId],
      ])
    })

    it('answers 202 with the shape of Paddle\'s example', async () => {
      const answer = await raw(`/notifications/${FAILED_ADDRESS_CREATED}/replay`, { method: 'POST' })
      expect(answer.status).toBe(202)
      expect(shapeOf(answer.body)).toEqual(shapeOf(NOTIFICATION_REPLAY))
      expect(answer.body.data.notification_id).toBe(standIn.notifications.at(-1)?.id)
    })

    it('refuses a replay of a replay, of a notification still in flight, and of an unknown one, as Paddle does', async () => {
      const paddle = sdk()
      const { notificationId } = await paddle.notifications.replay('ntf_01hv8z6xbf0ess9feze3x6zjs4') // delivered
      const count = standIn.notifications.length

      const ofReplay = await caught(paddle.notifications.replay(notificationId))
      expect(ofReplay).toBeInstanceOf(ApiError)
      expect(ofReplay).toMatchObject({
        type: 'request_error',
        code: 'notification_replay_invalid_origin_type',
        documentationUrl: 'https://developer.paddle.com/errors/notifications/notification_replay_invalid_origin_type',
      })
      expect(await caught(paddle.notifications.replay(NEEDS_RETRY))).toMatchObject({ type: 'request_error', code: 'notification_cannot_replay' })
      expect(await caught(paddle.notifications.replay('ntf_01hw000000000000000000none'))).toMatchObject({ type: 'request_error', code: 'not_found' })

      expect(standIn.replayed).toEqual(['ntf_01hv8z6xbf0ess9feze3x6zjs4'])
      expect(standIn.notifications).toHaveLength(count)
      expect(standIn.count('replay')).toBe(4)
      const refused = await raw(`/notifications/${NEEDS_RETRY}/replay`, { method: 'POST' })
      expect(refused.status).toBe(400)
      expect(shapeOf(refused.body)).toEqual({ top: ['error', 'meta'], meta: ['request_id'], pagination: [], data: [], error: ['code', 'detail', 'documentation_url', 'type'] })
    })
  })

  describe('GET /subscriptions', () => {
    beforeEach(() => {
      standIn.subscriptions = [subscription(SUB_C, 'paused'), subscription(SUB_A, 'active'), subscription(SUB_B, 'canceled')]
    })

    it('returns the subscriptions asked for by id, in id order', async () => {
      const listed = []
      for await (const entity of sdk().subscriptions.list({ id: [SUB_C, SUB_A] })) listed.push(entity)
      expect(listed.map((entity) => [entity.id, entity.status])).toEqual([[SUB_A, 'active'], [SUB_C, 'paused']])
      expect(listed[0]?.items[0]?.price?.id).toBe(SUBSCRIPTION_CREATED.data.items[0].price.id)
      expect(standIn.requests[0]?.query.get('id')).toBe(`${SUB_C},${SUB_A}`)
    })

    it('filters by status and pages', async () => {
      const paddle = sdk()
      const byStatus = []
      for await (const entity of paddle.subscriptions.list({ status: ['canceled', 'paused'], perPage: 1 })) byStatus.push(entity.id)
      expect(byStatus).toEqual([SUB_B, SUB_C])
      expect(standIn.count('subscriptions')).toBe(2)
    })

    it('refuses an empty id list, which the SDK sends as `id=`', async () => {
      const error = await caught(sdk().subscriptions.list({ id: [] }).next())
      expect(error).toBeInstanceOf(ApiError)
      expect(error).toMatchObject({ code: 'invalid_field' })
      expect(standIn.requests[0]?.query.get('id')).toBe('')
    })
  })

  describe('authentication, unknown paths and failures', () => {
    beforeEach(() => { standIn.events = clone(EVENTS_LIST.data) })

    it('refuses a wrong key with invalid_token, and records the request first', async () => {
      const error = await caught(sdk('pdl_sdbx_apikey_01wrongwrongwrongwrongwrongw_WrongKeyWrongKeyWrongKey0000').events.list().next())
      expect(error).toBeInstanceOf(ApiError)
      expect(error).toMatchObject({ type: 'request_error', code: 'invalid_token', retryAfter: null })
      expect(standIn.requests).toHaveLength(1)
      expect(standIn.requests[0]?.authorization).toBe('bearer pdl_sdbx_apikey_01wrongwrongwrongwrongwrongw_WrongKeyWrongKeyWrongKey0000')
      expect(standIn.count('events')).toBe(1)
    })

    it('answers a missing or malformed Authorization header as Paddle does, and takes the scheme in any case', async () => {
      const missing = await raw('/events', { authorization: null })
      expect(missing.status).toBe(403)
      expect(missing.body.error).toMatchObject({ type: 'request_error', code: 'authentication_missing' })
      expect(shapeOf(missing.body).error).toEqual(['code', 'detail', 'documentation_url', 'type'])
      expect((await raw('/events', { authorization: `Basic ${standIn.apiKey}` })).body.error.code).toBe('authentication_malformed')
      expect((await raw('/events', { authorization: 'Bearer nope' })).body.error.code).toBe('invalid_token')
      expect((await raw('/events', { authorization: `BEARER ${standIn.apiKey}` })).status).toBe(200)
    })

    it('answers 404 not_found to a path it does not serve', async () => {
      for (const [method, path] of [['GET', '/products'], ['GET', `/notifications/${FAILED_ADDRESS_CREATED}`], ['POST', '/events']] as const) {
        const answer = await raw(path, { method })
        expect(answer.status, `${method} ${path}`).toBe(404)
        expect(answer.body.error).toMatchObject({ type: 'request_error', code: 'not_found' })
      }
    })

    it('a 429 surfaces as ApiError too_many_requests with retryAfter from Retry-After, once', async () => {
      standIn.failNext('events', { status: 429, retryAfterSeconds: 7 })
      const paddle = sdk()
      const error = await caught(paddle.events.list({ orderBy: 'id[ASC]' }).next())
      expect(error).toBeInstanceOf(ApiError)
      expect(error).toMatchObject({ type: 'api_error', code: 'too_many_requests', retryAfter: 7 })
      expect(await paddle.events.list({ orderBy: 'id[ASC]' }).next()).toHaveLength(12)

      standIn.failNext('events', { status: 429, retryAfterSeconds: 3 })
      const answer = await raw('/events')
      expect(answer.status).toBe(429)
      expect(answer.headers.get('retry-after')).toBe('3')
      expect(shapeOf(answer.body).error).toEqual(['code', 'detail', 'documentation_url', 'type'])
    })

    it('fails the next `times` requests of one route only, in the order asked, before authentication', async () => {
      const paddle = sdk()
      standIn.failNext('notifications', { status: 500 }, 2)
      standIn.failNext('notifications', { status: 503 })
      standIn.failNext('notifications', { status: 502 })
      standIn.failNext('replay', { status: 403 })
      standIn.failNext('subscriptions', { status: 500 })
      standIn.failNext('events', { status: 401 })

      const codes = []
      for (let attempt = 0; attempt < 4; attempt += 1) codes.push(await caught(paddle.notifications.list().next()))
      expect(codes.map((error) => error instanceof ApiError ? [error.type, error.code] : error)).toEqual([
        ['api_error', 'internal_error'], ['api_error', 'internal_error'], ['api_error', 'service_unavailable'], ['api_error', 'bad_gateway'],
      ])
      expect(await paddle.notifications.list().next()).toEqual([])
      expect(await caught(paddle.notifications.replay('ntf_01hw000000000000000000none'))).toMatchObject({ type: 'request_error', code: 'forbidden' })
      // A failure comes before authentication: even a wrong key sees it.
      expect(await caught(sdk('wrong').subscriptions.list().next())).toMatchObject({ code: 'internal_error' })
      expect((await raw('/subscriptions', { authorization: null })).body.error.code).toBe('authentication_missing')
      expect(standIn.count('notifications')).toBe(5)
      expect(standIn.count('subscriptions')).toBe(2)

      const unauthorized = await raw('/events')
      expect(unauthorized.status).toBe(401)
      expect(unauthorized.body.error).toMatchObject({ type: 'request_error', code: 'invalid_token' })
      expect((await paddle.events.list().next())).toHaveLength(12)
    })

    it('a body that is not JSON rejects with something other than an ApiError', async () => {
      standIn.failNext('notifications', { notJson: true })
      const error = await caught(sdk().notifications.list().next())
      expect(error).not.toBeInstanceOf(ApiError)
      expect(error).toBeInstanceOf(SyntaxError)

      standIn.failNext('notifications', { notJson: true })
      const answer = await raw('/notifications')
      expect(answer.status).toBe(502)
      expect(answer.headers.get('content-type')).toBe('text/html')
      expect(answer.body).toContain('502 Bad Gateway')
    })

    it('a hung request stays unanswered until close(), which ends it', async () => {
      const local = await startPaddleStandIn()
      try {
        local.failNext('events', { hang: true })
        const outcome = sdk(local.apiKey, local).events.list().next().then(() => 'answered', (error: unknown) => error)
        await vi.waitFor(() => { expect(local.count('events')).toBe(1) })
        const early = await Promise.race([outcome, new Promise((resolve) => setTimeout(() => resolve('pending'), 20))])
        expect(early).toBe('pending')

        await local.close()
        const error = await outcome
        expect(error).toBeInstanceOf(TypeError) // fetch failed: the socket was closed
        expect(error).not.toBeInstanceOf(ApiError)
      } finally {
        await local.close()
      }
    })
  })
})
