/**
 * Starts the OpenTelemetry SDK (traces only, exported over OTLP) when tracingSettings() says so. The
 * entry points call it first, before they load the application: the pg instrumentation must patch
 * the driver before the pool is made. With tracing off nothing of the SDK is even loaded.
 *
 * The SDK reads its own OTEL_* variables (endpoint, headers, protocol, sampler, propagators, resource
 * attributes, batch sizes): see README, Tracing. Metrics stay with Prometheus (/metrics) and logs with
 * pino, so no OpenTelemetry metric reader or log processor is started.
 */
import { createRequire } from 'node:module'
import type { Instrumentation } from '@opentelemetry/instrumentation'
import type { TracingSettings } from './config.js'

export interface Telemetry {
  /** Exports the spans still buffered, then stops. */
  shutdown(): Promise<void>
}

const OFF: Telemetry = { shutdown: async () => {} }

export async function startTelemetry (settings: TracingSettings): Promise<Telemetry> {
  if (!settings.enabled) return OFF
  const { NodeSDK } = await import('@opentelemetry/sdk-node')
  const sdk = new NodeSDK({
    ...(settings.serviceName === undefined ? {} : { serviceName: settings.serviceName }),
    metricReaders: [],
    logRecordProcessors: [],
  })
  sdk.start()
  const instrumentation = await instrumentPostgres()
  return {
    shutdown: async () => {
      instrumentation.disable()
      await sdk.shutdown()
    },
  }
}

/**
 * Database spans from the pg instrumentation, registered with the global tracer provider (the tests
 * register their own provider first). No statement parameters are recorded (the inbox insert's only
 * parameter is the payload); statement texts are ours and hold no values. A statement becomes a span
 * only inside a span of ours: the idle polls of the worker and the dispatcher record nothing.
 */
export async function instrumentPostgres (): Promise<Instrumentation> {
  const [{ registerInstrumentations }, { PgInstrumentation }] = await Promise.all([
    import('@opentelemetry/instrumentation'),
    import('@opentelemetry/instrumentation-pg'),
  ])
  const instrumentation = new PgInstrumentation({
    enhancedDatabaseReporting: false,
    requireParentSpan: true,
    addSqlCommenterCommentToQueries: false,
    enableTraceContextPropagation: false,
  })
  registerInstrumentations({ instrumentations: [instrumentation] })
  // `import pg from 'pg'` (ESM importing CommonJS) does not pass through the require hook the
  // instrumentation installs; a require of the same files does, and patches the prototypes that
  // every importer shares, whether pg was loaded already or not.
  const require = createRequire(import.meta.url)
  require('pg')
  createRequire(require.resolve('pg'))('pg-pool')
  return instrumentation
}
