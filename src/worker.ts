// `npm run worker` (node dist/worker.js): the inbox worker and the other background loops, without HTTP.
import { loadConfig } from './platform/config.js'
import { closeOnSignals, runEntry, startWorkerProcess } from './app/runtime.js'

runEntry(async () => {
  const worker = await startWorkerProcess(loadConfig({ role: 'worker' }))
  closeOnSignals(worker)
  await worker.started
})
