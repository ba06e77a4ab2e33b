// Production entry point (`npm start`, the container's CMD). Configuration comes from the environment only.
import { loadConfig, tracingSettings } from './platform/config.js'
import { startTelemetry } from './platform/telemetry.js'

// Tracing first (with OTEL_EXPORTER_OTLP_ENDPOINT set): the application, and the database driver with
// it, is loaded only once the pg instrumentation is in place.
const telemetry = await startTelemetry(tracingSettings())
const { closeOnSignals, runEntry, startService, withTelemetry } = await import('./app/runtime.js')

runEntry(async () => {
  const service = withTelemetry(await startService(loadConfig()), telemetry)
  closeOnSignals(service)
  await service.started
})
