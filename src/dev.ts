// `npm run dev`: the service with the embedded database and committed, non-secret development credentials.
import pretty from 'pino-pretty'
import { DEVELOPMENT_API_TOKEN, DEVELOPMENT_WEBHOOK_SECRET, loadConfig, loadDevelopmentEnvFile, tracingSettings } from './platform/config.js'
import { startTelemetry } from './platform/telemetry.js'

// .env is for development only: `npm start` and the worker never read it. Read before anything else,
// so that the OTEL_* variables it may hold reach the tracing set-up too.
const envFile = loadDevelopmentEnvFile()
// Tracing first: see server.ts.
const telemetry = await startTelemetry(tracingSettings())
const { closeOnSignals, runEntry, startService, withTelemetry } = await import('./app/runtime.js')

runEntry(async () => {
  const config = loadConfig({ development: true })
  // Colourised, one readable line per entry (pino-pretty is a development dependency, as this entry point is).
  const service = withTelemetry(await startService(config, { logDestination: pretty({ colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname,service' }) }), telemetry)
  if (envFile) service.logger.info('read .env (variables already set in the environment win)')
  service.logger.warn({
    webhookUrl: `http://localhost:${config.PORT}/webhooks/paddle`,
    webhookSecret: config.PADDLE_WEBHOOK_SECRETS.includes(DEVELOPMENT_WEBHOOK_SECRET) ? DEVELOPMENT_WEBHOOK_SECRET : '(from PADDLE_WEBHOOK_SECRETS)',
    apiToken: config.INTERNAL_API_TOKENS.includes(DEVELOPMENT_API_TOKEN) ? DEVELOPMENT_API_TOKEN : '(from INTERNAL_API_TOKENS)',
    docs: `http://localhost:${config.PORT}/docs`,
    ...(config.CONSOLE_ENABLED ? { consoleUrl: `http://localhost:${config.PORT}/console (sign in with the API token)` } : {}),
  }, 'development mode: these credentials are public development values, never use them in production')
  closeOnSignals(service)
  await service.started
})
