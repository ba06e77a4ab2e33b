/**
 * The set-up most feature tests share: a database of their own, the app on an injectable clock, its
 * background loops (not started: tests drain the worker themselves), and delivery of signed events.
 */
import { afterAll, beforeAll, expect } from 'vitest'
import { buildTestApp, type TestApp } from './app.js'
import { createTestDatabase, type TestDatabase } from './database.js'
import { deliver, type PaddleEvent } from './paddle.js'
import { createBackgroundLoops, type BackgroundLoops } from '#src/app/background.js'
import { createServiceMetrics } from '#src/app/metrics.js'

export interface Harness {
  readonly database: TestDatabase
  readonly testApp: TestApp
  readonly loops: BackgroundLoops
  /** The app's clock in milliseconds: it drives the entitlement's `now` and signature verification alike. */
  now: number
  /** Delivers the events signed at the app's time, each answered 200, then lets the worker apply them. */
  send(...events: PaddleEvent[]): Promise<void>
}

export function useHarness (options: { now: number, env?: Record<string, string> }): Harness {
  let database: TestDatabase | undefined
  let testApp: TestApp | undefined
  let loops: BackgroundLoops | undefined
  const must = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the harness is used outside a test')
    return value
  }
  const harness: Harness = {
    get database () { return must(database) },
    get testApp () { return must(testApp) },
    get loops () { return must(loops) },
    now: options.now,
    async send (...events) {
      for (const event of events) {
        const response = await deliver(harness.testApp.app, event, { timestamp: Math.floor(harness.now / 1000) })
        expect(response.statusCode, response.body).toBe(200)
      }
      await harness.loops.worker.drain()
    },
  }
  beforeAll(async () => {
    database = await createTestDatabase()
    const metrics = createServiceMetrics(database.handle)
    testApp = await buildTestApp(database, {
      clock: () => harness.now,
      ...(options.env === undefined ? {} : { env: options.env }),
      dependencies: { metrics },
    })
    loops = createBackgroundLoops(testApp.config, { database: database.handle, logger: testApp.app.log as never, clock: () => harness.now, metrics })
  })
  afterAll(async () => {
    await testApp?.app.close()
    await database?.drop()
  })
  return harness
}
