/**
 * Starting while PostgreSQL is down, and starting against a database whose migrations have not run:
 * the processes wait (not ready, webhooks 503) and start working by themselves once the database
 * is there, without a restart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDatabase } from '#src/db/client.js'
import { runMigrations } from '#src/db/migrate.js'
import { silentLogger } from '../helpers/app.js'
import { freshIds, SCENARIOS } from '../helpers/scenarios.js'
import { clusterUnavailableReason, startLocalCluster, type LocalCluster } from './cluster.js'
import { inboxCounts, logLines, postWebhook, processEnv, readiness, spawnProcess, waitFor, type Running } from './harness.js'

const unavailable = clusterUnavailableReason()
const renewal = SCENARIOS[0]
if (renewal === undefined) throw new Error('no scenario')

describe.skipIf(unavailable !== null)('start-up before the database is usable', () => {
  let cluster: LocalCluster
  const processes: Running[] = []

  beforeAll(async () => {
    cluster = await startLocalCluster()
    await cluster.sql('CREATE DATABASE down_at_start')
    await cluster.sql('CREATE DATABASE unmigrated')
  })
  afterAll(async () => {
    await Promise.all(processes.map(async (running) => await running.stop()))
    await cluster?.destroy()
  })

  const start = (entry: 'src/server.ts' | 'src/worker.ts', env: Record<string, string>): Running => {
    const running = spawnProcess(entry, env)
    processes.push(running)
    return running
  }

  it('waits for PostgreSQL with backoff, not ready meanwhile, then migrates and serves', async () => {
    const url = cluster.url('down_at_start')
    await cluster.stop('fast')
    const service = start('src/server.ts', processEnv(url, { WORKER_ENABLED: 'false' }))
    const worker = start('src/worker.ts', processEnv(url))
    const port = await service.listening

    const down = await readiness(port)
    expect(down.status).toBe(503)
    const events = renewal.events(freshIds())
    expect(await postWebhook(port, events[0] ?? events[1]!)).toBe(503)
    await waitFor('a second try logged by each process', async () =>
      logLines(service.output(), 'database not reachable yet').length >= 2 && logLines(worker.output(), 'database not reachable yet').length >= 2)
    expect(service.alive()).toBe(true)
    expect(worker.alive()).toBe(true)

    await cluster.start()
    await waitFor('readiness', async () => (await readiness(port)).status === 200, 30_000)
    for (const event of events) expect(await postWebhook(port, event)).toBe(200)
    await waitFor('the worker to apply them', async () => (await inboxCounts(url)).processed === events.length, 30_000)
  }, 120_000)

  it('with MIGRATE_ON_START=false and migrations pending: says so once, 503 for webhooks, and works once they are applied', async () => {
    const url = cluster.url('unmigrated')
    const env = processEnv(url, { MIGRATE_ON_START: 'false', WORKER_ENABLED: 'false' })
    const service = start('src/server.ts', env)
    const worker = start('src/worker.ts', { ...env, WORKER_ENABLED: 'true' })
    const port = await service.listening

    const ready = await readiness(port)
    expect(ready.status).toBe(503)
    expect((ready.body.checks as Record<string, string>).migrations).toMatch(/pending: 0000_/)
    const events = renewal.events(freshIds())
    const first = events[0]!
    const refused = await fetch(`http://127.0.0.1:${port}/webhooks/paddle`, { method: 'POST', headers: { 'content-type': 'application/json', 'paddle-signature': 'x' }, body: '{}' })
    expect(refused.status).toBe(401)
    expect(await postWebhook(port, first)).toBe(503)

    // A few polls later the worker has still said it once, with no stack trace per poll.
    await new Promise((resolve) => setTimeout(resolve, 3_000))
    expect(logLines(worker.output(), /migration\(s\) pending/).length).toBe(1)
    expect(worker.output()).not.toMatch(/relation "paddle_inbox" does not exist/)

    const handle = await createDatabase({ databaseUrl: url, logger: silentLogger, poolMax: 2 })
    try {
      await runMigrations(handle, url)
    } finally {
      await handle.close()
    }
    await waitFor('readiness after the migrations', async () => (await readiness(port)).status === 200, 30_000)
    await waitFor('webhooks accepted again', async () => await postWebhook(port, first) === 200, 5_000)
    for (const event of events) expect(await postWebhook(port, event)).toBe(200)
    await waitFor('the worker to apply them', async () => (await inboxCounts(url)).processed === events.length, 30_000)
    expect(service.alive() && worker.alive()).toBe(true)
  }, 120_000)
})
