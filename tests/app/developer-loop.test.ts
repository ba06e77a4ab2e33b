/**
 * The developer's loop around the service: Swagger UI at /docs, readable validation errors, quiet
 * health probes, and one stored event with its projection (what `paddle:send --again` rebuilds).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseEnvelope } from '#src/paddle/envelope.js'
import { projectEvent } from '#src/paddle/projection.js'
import { buildTestApp, TEST_API_TOKEN, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'
import { deliver, eventTypeFixtures, readFixture, withFreshEventIds } from '../helpers/paddle.js'
import { rebuildData } from '../../scripts/paddle-send/rebuild.js'

const auth = { authorization: `Bearer ${TEST_API_TOKEN}` }

describe('the developer loop', () => {
  let database: TestDatabase
  let testApp: TestApp

  beforeAll(async () => {
    database = await createTestDatabase()
    testApp = await buildTestApp(database)
  })
  afterAll(async () => {
    await testApp?.app.close()
    await database?.drop()
  })

  it('names the allowed values when a query value is not one of them', async () => {
    const response = await testApp.app.inject({ url: '/internal/admin/events?status=processed', headers: auth })
    expect(response.statusCode).toBe(400)
    expect(response.json()).toEqual({ code: 'INVALID_REQUEST', message: 'querystring/status must be one of: dead, failed, pending' })
    // Other validation messages are Ajv's, as before.
    const limit = await testApp.app.inject({ url: '/internal/admin/events?status=dead&limit=0', headers: auth })
    expect(limit.json()).toEqual({ code: 'INVALID_REQUEST', message: 'querystring/limit must be >= 1' })
  })

  it('serves Swagger UI at /docs, on the OpenAPI document with its bearer scheme', async () => {
    const page = await testApp.app.inject({ url: '/docs' })
    const html = page.statusCode === 302 ? await testApp.app.inject({ url: page.headers.location as string }) : page
    expect(html.statusCode).toBe(200)
    expect(html.headers['content-type']).toMatch(/^text\/html/)
    expect(html.body).toContain('swagger-ui')
    const document = (await testApp.app.inject({ url: '/docs/json' })).json()
    expect(document.components.securitySchemes.bearer).toEqual({ type: 'http', scheme: 'bearer' })
    expect(document.paths['/internal/subscriptions/{subscriptionId}'].get.security).toEqual([{ bearer: [] }])
    expect(document).toEqual((await testApp.app.inject({ url: '/openapi.json' })).json())
  })

  it('logs health probes at debug, other requests at info', async () => {
    const from = testApp.logs.lines.length
    await testApp.app.inject({ url: '/health/live' })
    await testApp.app.inject({ url: '/health/ready' })
    await testApp.app.inject({ url: '/internal/admin/events?status=dead', headers: auth })
    const completed = testApp.logs.records().slice(from).filter((record) => record.msg === 'request completed')
    expect(completed.map((record) => [(record.req as { url: string }).url, record.level])).toEqual([
      ['/health/live', 20], ['/health/ready', 20], ['/internal/admin/events', 30],
    ])
  })

  it('GET /internal/admin/events/:id answers the stored event with its projection; 404 for an unknown one', async () => {
    const event = withFreshEventIds(readFixture('subscription.updated.json'))
    expect((await deliver(testApp.app, event)).statusCode).toBe(200)
    const response = await testApp.app.inject({ url: `/internal/admin/events/${event.event_id}`, headers: auth })
    expect(response.statusCode, response.body).toBe(200)
    expect(response.json()).toMatchObject({
      eventId: event.event_id,
      notificationId: event.notification_id,
      eventType: 'subscription.updated',
      entityType: 'subscription',
      status: 'pending',
      payload: { id: event.data.id, status: 'active', items: expect.any(Array) },
    })
    expect((await testApp.app.inject({ url: '/internal/admin/events/evt_01nosuchevent', headers: auth })).statusCode).toBe(404)
  })
})

describe('paddle:send --again: a body rebuilt from the stored projection', () => {
  const options = { customDataKeys: ['account_id'] }

  it.each(eventTypeFixtures())('projects to the same projection again (%s)', (file) => {
    const fixture = readFixture(file)
    const parsed = parseEnvelope(JSON.stringify({ ...fixture, data: { ...fixture.data, custom_data: { account_id: 'acc_1', other: 'dropped' } } }))
    if (!parsed.ok) throw new Error(parsed.problem)
    const stored = projectEvent(parsed.envelope, options)
    const rebuilt = rebuildData(stored.entityType, stored.payload as never, { entityId: stored.entityId, customerId: stored.customerId })
    const again = parseEnvelope(JSON.stringify({ ...fixture, data: rebuilt }))
    if (!again.ok) throw new Error(again.problem)
    expect(projectEvent(again.envelope, options)).toEqual(stored)
  })
})
