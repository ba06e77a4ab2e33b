import { Writable } from 'node:stream'
import type { FastifyInstance } from 'fastify'
import pino from 'pino'
import { buildApp, type AppDependencies } from '#src/app/app.js'
import type { Clock } from '#src/platform/clock.js'
import { loadConfig, type Config } from '#src/platform/config.js'
import { createLogger } from '#src/platform/logger.js'
import type { TestDatabase } from './database.js'

export const TEST_WEBHOOK_SECRET = 'pdl_ntfset_01jtest0000000000000000000000_TestSuiteSecret0000000000000000'
export const TEST_API_TOKEN = 'test-internal-token-0123456789abcdef'

export function testConfig (env: Record<string, string> = {}): Config {
  return loadConfig({
    env: {
      PADDLE_WEBHOOK_SECRETS: TEST_WEBHOOK_SECRET,
      INTERNAL_API_TOKENS: TEST_API_TOKEN,
      LOG_LEVEL: 'trace',
      MIGRATE_ON_START: 'false',
      ...env,
    },
    // The tests hand the app its database; a configuration without DATABASE_URL stands for the embedded one.
    embeddedDatabase: true,
  })
}

/** Collects every log line the app writes, so tests can read what reached the logs. */
export class LogCapture {
  readonly lines: string[] = []
  readonly stream = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      this.lines.push(...chunk.toString('utf8').split('\n').filter((line) => line !== ''))
      callback()
    },
  })

  text (): string {
    return this.lines.join('\n')
  }

  records (): Array<Record<string, unknown>> {
    return this.lines.map((line) => JSON.parse(line) as Record<string, unknown>)
  }
}

export interface TestApp {
  app: FastifyInstance
  config: Config
  logs: LogCapture
}

export async function buildTestApp (
  database: TestDatabase,
  options: { env?: Record<string, string>, clock?: Clock, dependencies?: Partial<AppDependencies> } = {}
): Promise<TestApp> {
  const config = testConfig(options.env)
  const logs = new LogCapture()
  const logger = createLogger(config, logs.stream)
  const app = await buildApp(config, {
    database: database.handle,
    logger,
    ...(options.clock === undefined ? {} : { clock: options.clock }),
    ...options.dependencies,
  })
  await app.ready()
  return { app, config, logs }
}

export const silentLogger = pino({ level: 'silent' })
