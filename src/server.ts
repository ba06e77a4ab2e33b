// Production entry point (`npm start`, the container's CMD). Configuration comes from the environment only.
import { loadConfig } from './platform/config.js'
import { closeOnSignals, runEntry, startService } from './app/runtime.js'

runEntry(async () => {
  const service = await startService(loadConfig())
  closeOnSignals(service)
  await service.started
})
