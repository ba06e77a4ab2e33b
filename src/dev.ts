// `npm run dev`: the service with the embedded database and committed, non-secret development credentials.
import { DEVELOPMENT_API_TOKEN, DEVELOPMENT_WEBHOOK_SECRET, loadConfig } from './platform/config.js'
import { closeOnSignals, runEntry, startService } from './app/runtime.js'

runEntry(async () => {
  const config = loadConfig({ development: true })
  const service = await startService(config)
  service.logger.warn({
    webhookUrl: `http://localhost:${config.PORT}/webhooks/paddle`,
    webhookSecret: config.PADDLE_WEBHOOK_SECRETS.includes(DEVELOPMENT_WEBHOOK_SECRET) ? DEVELOPMENT_WEBHOOK_SECRET : '(from PADDLE_WEBHOOK_SECRETS)',
    apiToken: config.INTERNAL_API_TOKENS.includes(DEVELOPMENT_API_TOKEN) ? DEVELOPMENT_API_TOKEN : '(from INTERNAL_API_TOKENS)',
    ...(config.CONSOLE_ENABLED ? { consoleUrl: `http://localhost:${config.PORT}/console (sign in with the API token)` } : {}),
  }, 'development mode: these credentials are public development values, never use them in production')
  closeOnSignals(service)
  await service.started
})
