import { Type, type Static, type TSchema } from '@sinclair/typebox'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { ConflictError, InvalidRequestError, NotFoundError } from '../platform/errors.js'
import { errorResponses, ErrorResponse } from '../platform/schemas.js'
import { EmailEvent, EMAIL_EVENT_SCHEMAS } from './email-event.schemas.js'
import { decodeCursor, EMAIL_STREAM, encodeCursor, FEED_START, readFeed, redeliver, type OutboxStream } from './email-events.repository.js'

/** What tells one stream's feed and redelivery routes from another's. */
export interface OutboxRoutesOptions {
  stream: OutboxStream
  /** `/email-events`, `/entitlement-events` */
  path: string
  tag: string
  /** The schema of one event (a union or a single object), and the schemas it refers to. */
  event: TSchema
  schemas: TSchema[]
  /** Names the event in messages and logs ("Email event"). */
  noun: string
  feedDescription: string
}

/** The pull feed and the redelivery of dead events, for any outbox stream. */
export const outboxRoutes: FastifyPluginAsyncTypebox<OutboxRoutesOptions> = async (app, options) => {
  const { stream } = options
  for (const schema of options.schemas) app.addSchema(schema)
  const Feed = Type.Object({
    events: Type.Array(options.event),
    nextCursor: Type.String({ description: 'Pass as `after` next time; the same cursor again when there was nothing new' }),
  })

  app.get(options.path, {
    schema: {
      tags: [options.tag],
      summary: `The ${options.tag}, in a stable order, from a cursor`,
      description: options.feedDescription,
      querystring: Type.Object({
        after: Type.Optional(Type.String({ maxLength: 100, description: 'nextCursor of the previous call; omitted: from the start' })),
        limit: Type.Integer({ minimum: 1, maximum: 1000, default: 100 }),
      }, { additionalProperties: false }),
      response: { 200: Feed, ...errorResponses },
    },
  }, async (request, reply) => {
    const { after, limit } = request.query
    const cursor = after === undefined ? FEED_START : decodeCursor(after)
    if (cursor === null) throw new InvalidRequestError('after is not a cursor this API returned')
    const feed = await readFeed(app.database, stream, cursor, limit)
    // Each event's schema is chosen by its type; the union would make the serializer try every one.
    const json: unknown = JSON.stringify({ events: feed.events, nextCursor: encodeCursor(feed.next) })
    return await reply.type('application/json; charset=utf-8').send(json as Static<typeof Feed>)
  })

  app.post(`${options.path}/:id/redeliver`, {
    schema: {
      tags: [options.tag],
      summary: `Put a dead ${options.noun.toLowerCase()} back in the delivery queue`,
      params: Type.Object({ id: Type.String({ pattern: `^${stream.idPrefix}[a-z0-9]{1,64}$` }) }),
      response: { 202: Type.Object({ id: Type.String(), status: Type.Literal('pending') }), 409: ErrorResponse, ...errorResponses },
    },
  }, async (request, reply) => {
    const result = await redeliver(app.database, stream, request.params.id)
    if (result === 'not_found') throw new NotFoundError(options.noun)
    if (result === 'not_dead') throw new ConflictError(`only a dead ${options.noun.toLowerCase()} can be redelivered`)
    request.log.info({ [`${stream.name}_event_id`]: request.params.id }, `${options.noun.toLowerCase()} put back for delivery`)
    return await reply.status(202).send({ id: request.params.id, status: 'pending' })
  })
}

export const emailEventRoutes: FastifyPluginAsyncTypebox = async (app) => {
  await app.register(outboxRoutes, {
    stream: EMAIL_STREAM,
    path: '/email-events',
    tag: 'email events',
    event: EmailEvent,
    schemas: EMAIL_EVENT_SCHEMAS,
    noun: 'Email event',
    feedDescription: 'Resume where you stopped with the last nextCursor. Events about changes older than ' +
      'EMAIL_EVENT_MAX_AGE_HOURS (suppressed) are not in the feed. Send one email per idempotencyKey.',
  })
}
