// `npm run worker` (node dist/worker.js): the inbox worker and the other background loops, without HTTP.
import { loadConfig, tracingSettings } from './platform/config.js'
import { startTelemetry } from './platform/telemetry.js'

// Tracing first: see server.ts.
const telemetry = await startTelemetry(tracingSettings())
const { closeOnSignals, runEntry, startWorkerProcess, withTelemetry } = await import('./app/runtime.js')

runEntry(async () => {
  const worker = withTelemetry(await startWorkerProcess(loadConfig({ role: 'worker' })), telemetry)
  closeOnSignals(worker)
  await worker.started
})
