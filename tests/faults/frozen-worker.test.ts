/**
 * A worker frozen mid-batch (SIGSTOP: a stuck VM, a debugger, a GC pause of minutes) holds row and
 * advisory locks in open transactions. PostgreSQL ends its sessions after
 * DATABASE_IDLE_IN_TRANSACTION_TIMEOUT_MS, and meanwhile another worker's claims pass over what it
 * holds: the backlog drains beside it, and the frozen worker, once resumed, carries on.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { clusterUnavailableReason, startLocalCluster, type LocalCluster } from './cluster.js'
import { inboxCounts, interleavedLifecycles, processEnv, query, spawnProcess, storeBacklog, waitFor, type Running } from './harness.js'

const unavailable = clusterUnavailableReason()

describe.skipIf(unavailable !== null)('a frozen worker', () => {
  let cluster: LocalCluster
  let url: string
  const processes: Running[] = []

  beforeAll(async () => {
    cluster = await startLocalCluster()
    await cluster.sql('CREATE DATABASE billing')
    url = cluster.url('billing')
  })
  afterAll(async () => {
    await Promise.all(processes.map(async (running) => await running.stop()))
    await cluster?.destroy()
  })

  it('does not stall the others: a second worker drains a 3,000-event backlog while it is stopped', async () => {
    const frozen = spawnProcess('src/worker.ts', processEnv(url))
    processes.push(frozen)
    await waitFor('the first worker to run', async () => frozen.output().includes('worker process running'), 60_000)
    const events = interleavedLifecycles(560)
    expect(events.length).toBeGreaterThan(2_900)
    await storeBacklog(url, events)

    // Freeze it in the middle of its work, with transactions open.
    await waitFor('the first worker to hold a batch', async () => {
      const [row] = await query<{ busy: string }>(url,
        "SELECT count(*) AS busy FROM pg_stat_activity WHERE application_name = 'tracksera-billing-worker' AND xact_start IS NOT NULL")
      return Number(row?.busy) > 0
    }, 30_000, 5)
    frozen.child.kill('SIGSTOP')
    const frozenAt = Date.now()
    const before = await inboxCounts(url)

    const other = spawnProcess('src/worker.ts', processEnv(url))
    processes.push(other)
    const drained = await waitFor('the backlog to drain', async () => {
      const counts = await inboxCounts(url)
      return (counts.pending ?? 0) + (counts.failed ?? 0) === 0 ? counts : null
    }, 120_000, 100)
    const drainMs = Date.now() - frozenAt
    process.stdout.write(`fault suite: ${events.length - (before.processed ?? 0) - (before.ignored ?? 0)} events drained in ${drainMs} ms beside a frozen worker\n`)
    expect(drained.processed).toBe(events.length)
    expect(drained).not.toHaveProperty('dead')

    // Resumed, the frozen worker finds its sessions ended and carries on; nothing was applied twice.
    frozen.child.kill('SIGCONT')
    await new Promise((resolve) => setTimeout(resolve, 2_000))
    expect(frozen.alive(), frozen.output().slice(-3000)).toBe(true)
    expect(other.alive()).toBe(true)
    const [stale] = await query<{ count: string }>(url, "SELECT count(*) AS count FROM paddle_inbox WHERE outcome = 'stale'")
    expect(Number(stale?.count)).toBe(0)
    expect(await inboxCounts(url)).toEqual({ processed: events.length })
  }, 240_000)
})
