/**
 * The operator console at /console: server-rendered pages over the same repositories as the
 * internal and admin API. Signed in once with an internal API token (the same constant-time check
 * as the bearer auth), then a signed session cookie (session.ts). Every POST must come from the
 * console's own origin and carry the session's CSRF token.
 */
import { Type, type Static } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify'
import { listEvents, redrive, subscriptionTimeline } from '../admin/admin.repository.js'
import { findSubscriptions } from '../billing/billing.queries.js'
import { toSubscriptionResponse } from '../billing/billing.serializers.js'
import { EMAIL_STREAM, redeliver } from '../email-events/email-events.repository.js'
import { decideEntitlement, type EntitlementPolicy } from '../entitlements/decide.js'
import { findAccountSubscriptions } from '../entitlements/entitlements.repository.js'
import { KNOWN_EVENT_TYPES } from '../paddle/event-types.js'
import { createTokenCheck } from '../platform/auth.js'
import { nowTimestamp, type Clock } from '../platform/clock.js'
import { consoleUrl, html } from './html.js'
import { listFailedEmailEvents, listInboxEvents, listSubscriptionEmailEvents, readInboxSummary } from './console.queries.js'
import { deadLettersPage, errorPage, inboxPage, INBOX_STATUSES_SHOWN, signInPage, STYLESHEET_HASH, subscriptionPage, type PageContext } from './console.pages.js'
import { createSessionKeys, readCookie, serializeSessionCookie, SESSION_COOKIE, type Session } from './session.js'

export interface ConsoleRoutesOptions {
  tokens: readonly string[]
  /** CONSOLE_SESSION_SECRET; undefined: the key is derived from the tokens. */
  sessionSecret: string | undefined
  sessionTtlMinutes: number
  /** CONSOLE_PUBLIC_ORIGIN; undefined: the request's own protocol and Host. */
  publicOrigin: string | undefined
  clock: Clock
  policy: EntitlementPolicy
  /** Wakes the workers after a redrive. */
  onRedrive?: () => void
}

declare module 'fastify' {
  interface FastifyRequest {
    consoleSession: Session | null
  }
  interface FastifyContextConfig {
    /** A console route reachable without a session (the sign-in form). */
    consolePublic?: boolean
  }
}

const HEADERS = {
  'content-security-policy': `default-src 'none'; style-src '${STYLESHEET_HASH}'; img-src 'self'; form-action 'self'; ` +
    'frame-ancestors \'none\'; base-uri \'none\'',
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  'cache-control': 'no-store',
}

const FORM_BODY_LIMIT = 8 * 1024
const EVENT_ID = '^[A-Za-z0-9_-]{1,200}$'
const optional = (pattern: string, maxLength: number) => Type.Optional(Type.String({ pattern: `^(${pattern})?$`, maxLength }))
/** Where a form may send the browser back to: console pages only, never a URL from elsewhere. */
const BACK = /^\/console\/(dead-letters|inbox|subscriptions\/sub_[a-z0-9]{1,64})$/
const CsrfForm = Type.Object({ _csrf: Type.Optional(Type.String({ maxLength: 200 })), back: Type.Optional(Type.String({ maxLength: 200 })) })

const NOTICES = {
  redriven: 'is pending again; the worker applies it shortly.',
  redelivering: 'is back in the delivery queue.',
  not_found: 'does not exist.',
  not_redrivable: 'is neither dead nor failed: nothing to redrive.',
  payload_gone: 'cannot be applied again: its payload is past its retention.',
  not_dead: 'is not dead: nothing to redeliver.',
} as const
type NoticeCode = keyof typeof NOTICES
const PROBLEMS: ReadonlySet<NoticeCode> = new Set(['not_found', 'not_redrivable', 'payload_gone', 'not_dead'])
const NoticeQuery = {
  done: Type.Optional(Type.Union(Object.keys(NOTICES).map((code) => Type.Literal(code)))),
  id: optional('[A-Za-z0-9_-]{1,200}', 200),
}

export const consoleRoutes: FastifyPluginAsyncTypebox<ConsoleRoutesOptions> = async (app, options) => {
  const { database } = app
  const ttlSeconds = options.sessionTtlMinutes * 60
  const keys = createSessionKeys({ secret: options.sessionSecret, tokens: options.tokens, ttlSeconds })
  const isKnownToken = createTokenCheck(options.tokens)
  const nowSeconds = () => Math.floor(options.clock() / 1000)
  const eventTypes = [...KNOWN_EVENT_TYPES].sort()

  // Browser forms; parsed here only, so no other route accepts them. The body is never logged.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: FORM_BODY_LIMIT }, (_request, body, done) => {
    const fields: Record<string, string> = {}
    for (const [name, value] of new URLSearchParams(body as string)) fields[name] ??= value
    done(null, fields)
  })
  // Not part of the API: out of the OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.schema = { ...route.schema, hide: true }
  })
  app.decorateRequest('consoleSession', null)

  const secureCookie = (request: FastifyRequest): boolean =>
    options.publicOrigin === undefined ? request.protocol === 'https' : options.publicOrigin.startsWith('https://')
  const expectedOrigin = (request: FastifyRequest): string => options.publicOrigin ?? `${request.protocol}://${request.host}`
  const clearCookie = (request: FastifyRequest, reply: FastifyReply) =>
    reply.header('set-cookie', serializeSessionCookie('', { maxAgeSeconds: 0, secure: secureCookie(request) }))
  const send = async (reply: FastifyReply, body: string, status = 200) =>
    await reply.status(status).type('text/html; charset=utf-8').send(body)
  const context = (request: FastifyRequest, notice: PageContext['notice'] = null): PageContext => ({
    csrfToken: request.consoleSession === null ? null : keys.csrfToken(request.consoleSession),
    notice,
  })

  app.addHook('onSend', async (_request, reply) => {
    reply.headers(HEADERS)
  })

  app.addHook('onRequest', async (request, reply) => {
    // Forms are accepted from the console's own pages only (CSRF defence besides the token; it
    // also covers the sign-in form, which has no session yet).
    if (request.method === 'POST') {
      const origin = request.headers.origin ?? originOf(request.headers.referer)
      if (origin !== expectedOrigin(request)) {
        request.log.warn({ origin: origin ?? null, expected: expectedOrigin(request) }, 'console form refused: not from the console\'s origin')
        const hint = options.publicOrigin === undefined ? ' Behind a proxy, set CONSOLE_PUBLIC_ORIGIN to the address browsers use.' : ''
        return await send(reply, errorPage({ csrfToken: null }, 'Refused', `This form did not come from the console's own pages.${hint}`), 403)
      }
    }
    if (request.routeOptions.config.consolePublic === true) return
    const verified = keys.verify(readCookie(request.headers.cookie, SESSION_COOKIE), nowSeconds())
    if ('session' in verified) {
      request.consoleSession = verified.session
      return
    }
    // Why, never the cookie's value.
    if (verified.problem !== 'missing') request.log.info({ reason: verified.problem }, 'console session refused')
    if (verified.problem !== 'missing') clearCookie(request, reply)
    return await reply.redirect(verified.problem === 'missing' ? '/console/sign-in' : '/console/sign-in?status=expired', 303)
  })

  // Every state-changing form carries the session's CSRF token.
  const checkCsrf = async (request: FastifyRequest<{ Body: Static<typeof CsrfForm> }>, reply: FastifyReply) => {
    const session = request.consoleSession
    if (session === null || !keys.isCsrfToken(session, request.body?._csrf)) {
      request.log.warn('console form refused: missing or wrong CSRF token')
      return await send(reply, errorPage(context(request), 'Refused', 'This form was not issued by your current session. Reload the page and try again.'), 403)
    }
  }

  app.setErrorHandler(async (error: FastifyError, request, reply) => {
    if (error.validation !== undefined) {
      return await send(reply, errorPage(context(request), 'Not understood', `The request was not understood: ${error.message}.`), 400)
    }
    const status = error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500
    if (status === 500) request.log.error({ err: error }, 'console request failed')
    return await send(reply, errorPage(context(request), status === 500 ? 'Something went wrong' : 'Not possible',
      status === 500 ? 'The page could not be built; the service log has the details.' : error.message), status)
  })
  app.setNotFoundHandler(async (request, reply) => await send(reply, errorPage(context(request), 'Not found', 'There is no such console page.'), 404))

  app.get('/', async (_request, reply) => await reply.redirect('/console/inbox', 303))

  app.get('/sign-in', {
    config: { consolePublic: true },
    schema: { querystring: Type.Object({ status: Type.Optional(Type.Union([Type.Literal('signed_out'), Type.Literal('expired')])) }) },
  }, async (request, reply) => {
    return await send(reply, signInPage({ ttlMinutes: options.sessionTtlMinutes, status: request.query.status }))
  })

  app.post('/sign-in', {
    config: { consolePublic: true },
    schema: { body: Type.Object({ token: Type.String({ maxLength: 1024 }) }) },
  }, async (request, reply) => {
    if (!isKnownToken(request.body.token)) {
      request.log.warn('console sign-in refused: not a token from INTERNAL_API_TOKENS')
      return await send(reply, signInPage({ ttlMinutes: options.sessionTtlMinutes, problem: 'That token is not accepted.' }), 401)
    }
    const { cookieValue } = keys.issue(request.body.token, nowSeconds())
    request.log.info('console session started')
    reply.header('set-cookie', serializeSessionCookie(cookieValue, { maxAgeSeconds: ttlSeconds, secure: secureCookie(request) }))
    return await reply.redirect('/console/inbox', 303)
  })

  app.post('/sign-out', { schema: { body: CsrfForm }, preHandler: checkCsrf }, async (request, reply) => {
    clearCookie(request, reply)
    request.log.info('console session ended')
    return await reply.redirect('/console/sign-in?status=signed_out', 303)
  })

  app.get('/inbox', {
    schema: {
      querystring: Type.Object({
        status: Type.Optional(Type.Union([Type.Literal(''), ...INBOX_STATUSES_SHOWN.map((status) => Type.Literal(status))])),
        type: optional('[a-z_]+(\\.[a-z_]+)*', 100),
        entity: optional('(sub|ctm|txn|adj)_[a-z0-9]{1,64}', 100),
        event: optional('[A-Za-z0-9_-]{1,200}', 200),
        limit: Type.Integer({ minimum: 1, maximum: 500, default: 50 }),
      }),
    },
  }, async (request, reply) => {
    const { status, type, entity, event, limit } = request.query
    const filter = {
      status: status === '' ? undefined : status,
      eventType: type === '' ? undefined : type,
      entityId: entity === '' ? undefined : entity,
      eventId: event === '' ? undefined : event,
      limit,
    }
    const [summary, events] = await Promise.all([readInboxSummary(database.db), listInboxEvents(database.db, filter)])
    return await send(reply, inboxPage(context(request), { summary, filter, events, eventTypes }))
  })

  app.get('/dead-letters', { schema: { querystring: Type.Object(NoticeQuery) } }, async (request, reply) => {
    const [dead, failed, emailEvents] = await Promise.all([
      listEvents(database, 'dead', 200),
      listEvents(database, 'failed', 200),
      listFailedEmailEvents(database.db, 200),
    ])
    return await send(reply, deadLettersPage(context(request, notice(request.query)), { inbox: [...dead, ...failed], emailEvents }))
  })

  app.post('/events/:eventId/redrive', {
    schema: { params: Type.Object({ eventId: Type.String({ pattern: EVENT_ID }) }), body: CsrfForm },
    preHandler: checkCsrf,
  }, async (request, reply) => {
    const { eventId } = request.params
    const result = await redrive(database, eventId)
    if (result === 'redriven') {
      options.onRedrive?.()
      request.log.info({ event_id: eventId }, 'paddle event redriven from the console')
    }
    return await reply.redirect(backTo(request.body.back, { done: result, id: eventId }), 303)
  })

  app.post('/email-events/:id/redeliver', {
    schema: { params: Type.Object({ id: Type.String({ pattern: '^eml_[a-z0-9]{1,64}$' }) }), body: CsrfForm },
    preHandler: checkCsrf,
  }, async (request, reply) => {
    const result = await redeliver(database, EMAIL_STREAM, request.params.id)
    if (result === 'redelivering') request.log.info({ email_event_id: request.params.id }, 'email event put back for delivery from the console')
    return await reply.redirect(backTo(request.body.back, { done: result, id: request.params.id }), 303)
  })

  // The header's lookup form: ids only in the URL.
  app.get('/subscriptions', {
    schema: { querystring: Type.Object({ id: Type.String({ pattern: '^\\s*sub_[a-z0-9]{1,64}\\s*$' }) }) },
  }, async (request, reply) => await reply.redirect(`/console/subscriptions/${request.query.id.trim()}`, 303))

  app.get('/subscriptions/:subscriptionId', {
    schema: {
      params: Type.Object({ subscriptionId: Type.String({ pattern: '^sub_[a-z0-9]{1,64}$' }) }),
      querystring: Type.Object(NoticeQuery),
    },
  }, async (request, reply) => {
    const { subscriptionId } = request.params
    const [[state], timeline] = await Promise.all([
      findSubscriptions(database.db, { ids: [subscriptionId] }),
      subscriptionTimeline(database, subscriptionId),
    ])
    if (state === undefined && timeline.events.length === 0) {
      return await send(reply, errorPage(context(request), 'Not found', `No subscription ${subscriptionId} and no event about it.`), 404)
    }
    const accountSubscriptions = state?.accountId == null ? null : await findAccountSubscriptions(database, state.accountId)
    const asOf = nowTimestamp(options.clock)
    const emailEvents = await listSubscriptionEmailEvents(database.db, subscriptionId, state?.customerId ?? null, 200)
    return await send(reply, subscriptionPage(context(request, notice(request.query)), {
      id: subscriptionId,
      subscription: state === undefined ? null : toSubscriptionResponse(state),
      version: state?.version ?? null,
      entitlement: accountSubscriptions === null
        ? null
        : { decision: decideEntitlement(accountSubscriptions, options.policy, asOf), asOf, subscriptionCount: accountSubscriptions.length },
      timeline: timeline.events,
      emailEvents,
    }))
  })
}

function originOf (url: string | undefined): string | undefined {
  if (url === undefined) return undefined
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

function backTo (back: string | undefined, query: { done: NoticeCode, id: string }): string {
  const page = back !== undefined && BACK.test(back) ? back : '/console/dead-letters'
  return `${page}?${new URLSearchParams(query).toString()}`
}

function notice (query: { done?: string | undefined, id?: string | undefined }): PageContext['notice'] {
  const code = query.done as NoticeCode | undefined
  if (code === undefined || query.id === undefined || query.id === '') return null
  const follow = code === 'redriven' ? html` <a href="${consoleUrl('/console/inbox', { event: query.id })}">See it in the inbox.</a>` : ''
  return { text: html`<span class="mono">${query.id}</span> ${NOTICES[code]}${follow}`, problem: PROBLEMS.has(code) }
}
