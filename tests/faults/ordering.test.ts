/**
 * Per-entity order across processes. One in-order stream of lifecycles (one event at a time, each
 * sent after the previous one's 200), with customers changing their minds, is sent once to a single
 * process and once to a service plus a separate worker: both apply every event in order, with the
 * same outcome for each, and record the very same email events.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { addSeconds } from '#src/platform/timestamps.js'
import type { PaddleEvent } from '../helpers/paddle.js'
import { freshIds, SCENARIOS } from '../helpers/scenarios.js'
import { clusterUnavailableReason, startLocalCluster, type LocalCluster } from './cluster.js'
import { inboxCounts, postWebhook, processEnv, query, readiness, spawnProcess, waitFor, type Running } from './harness.js'

const unavailable = clusterUnavailableReason()

/**
 * The scenarios have a few events of one entity with the same occurred_at (created and activated
 * together); which of two such events is "newer" is decided by their event ids, not by the order
 * they were sent in, so their outcome depends on timing. Here each entity's events are a millisecond
 * apart, in the order they are sent: the outcome of every event is then the same in any run.
 */
function strictlyOrdered (events: PaddleEvent[]): PaddleEvent[] {
  const latest = new Map<string, string>()
  return events.map((event) => {
    const entity = String(event.data.id)
    const previous = latest.get(entity)
    const occurredAt = previous !== undefined && event.occurred_at <= previous ? addSeconds(previous, 0.001) : event.occurred_at
    latest.set(entity, occurredAt)
    return { ...event, occurred_at: occurredAt }
  })
}

describe.skipIf(unavailable !== null)('one in-order stream, one process or several', () => {
  let cluster: LocalCluster
  const processes: Running[] = []
  // Lifecycle after lifecycle: an entity's next event arrives right after its previous one's 200,
  // while that one may still be being claimed.
  const stream: PaddleEvent[] = strictlyOrdered(Array.from({ length: 56 }, (_, index) => SCENARIOS[index % SCENARIOS.length]?.events(freshIds()) ?? []).flat())

  beforeAll(async () => {
    cluster = await startLocalCluster()
  })
  afterAll(async () => {
    await Promise.all(processes.map(async (running) => await running.stop()))
    await cluster?.destroy()
  })

  async function run (database: string, withSeparateWorker: boolean): Promise<{ emails: string[], outcomes: string[] }> {
    await cluster.sql(`CREATE DATABASE ${database}`)
    const url = cluster.url(database)
    const service = spawnProcess('src/server.ts', processEnv(url))
    processes.push(service)
    const port = await service.listening
    await waitFor('readiness', async () => (await readiness(port)).status === 200)
    if (withSeparateWorker) {
      const worker = spawnProcess('src/worker.ts', processEnv(url))
      processes.push(worker)
      await waitFor('the worker to run', async () => worker.output().includes('worker process running'))
    }
    for (const event of stream) expect(await postWebhook(port, event)).toBe(200)
    await waitFor('every event applied', async () => {
      const counts = await inboxCounts(url)
      return (counts.pending ?? 0) + (counts.failed ?? 0) === 0
    }, 60_000, 100)
    const emails = await query<{ line: string }>(url, "SELECT type || ' ' || idempotency_key AS line FROM email_events ORDER BY 1")
    const outcomes = await query<{ line: string }>(url, "SELECT event_id || ' ' || coalesce(outcome, status) AS line FROM paddle_inbox ORDER BY 1")
    return { emails: emails.map((row) => row.line), outcomes: outcomes.map((row) => row.line) }
  }

  it('applies each entity\'s events in order and emits the same email events', async () => {
    const single = await run('one_process', false)
    const several = await run('two_processes', true)
    expect(single.outcomes.filter((line) => line.endsWith(' stale'))).toEqual([])
    expect(several.outcomes).toEqual(single.outcomes)
    expect(single.emails.length).toBeGreaterThan(100)
    expect(several.emails).toEqual(single.emails)
  }, 240_000)
})
