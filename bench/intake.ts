/**
 * Intake throughput: signed, unique `transaction.completed` webhooks (~10 KB, the genuine fixture with
 * fresh ids) against the built service, and in the same run the ceiling: the same inbox insert sent
 * straight through `pg` at the same concurrency.
 */
import { runLoad } from './http-load.js'
import { BENCH_WEBHOOK_SECRET, cpuDifference, microsPer, postgresCpuSeconds, printTable, processCpuSeconds, startService } from './support.js'
import { straightInboxInserts, UniqueEvents } from './unique-events.js'

export interface IntakeOptions { databaseUrl: string, connections: number, durationSeconds: number }

export async function benchIntake (options: IntakeOptions): Promise<void> {
  const events = UniqueEvents.transactionCompleted({ secret: BENCH_WEBHOOK_SECRET, newCustomers: false })

  const service = await startService(options.databaseUrl, {
    LOG_LEVEL: 'info',
    WORKER_ENABLED: 'false',
    DISPATCHER_ENABLED: 'false',
    SCHEDULER_ENABLED: 'false',
  })
  const sampleSize = events.nextWebhook().body.length
  const load = async (durationSeconds: number) => await runLoad({
    port: service.port,
    connections: options.connections,
    durationSeconds,
    next: () => events.nextWebhook(),
  })
  await load(3) // warm-up: JIT, connection pool, prepared statements
  const cpuBefore = { service: processCpuSeconds(service.child.pid), postgres: postgresCpuSeconds() }
  const intake = await load(options.durationSeconds)
  const cpu = {
    service: cpuDifference(processCpuSeconds(service.child.pid), cpuBefore.service),
    postgres: cpuDifference(postgresCpuSeconds(), cpuBefore.postgres),
  }
  await service.stop()

  // The database alone: ready-made rows, one statement (and commit) per row, on each connection.
  const ceiling = await straightInboxInserts(options.databaseUrl, options.connections, options.durationSeconds, events)
  printTable(`Intake: ${options.connections} connections, ${options.durationSeconds} s, body ${(sampleSize / 1024).toFixed(1)} KB`,
    ['path', 'requests/s', 'p50 ms', 'p99 ms', 'errors', 'service CPU us/req', 'postgres CPU us/req'],
    [
      ['POST /webhooks/paddle (built service)', intake.rate, intake.p50, intake.p99, intake.errors,
        microsPer(cpu.service, intake.requests), microsPer(cpu.postgres, intake.requests)],
      ['same inbox insert straight through pg', ceiling.rate, ceiling.p50, ceiling.p99, ceiling.errors,
        '-', microsPer(ceiling.postgresCpu, ceiling.requests)],
    ])
  process.stdout.write(`intake / ceiling = ${(100 * intake.rate / ceiling.rate).toFixed(1)}% (target >= 80%); ` +
    `p99 ${intake.p99.toFixed(1)} ms (target < 30 ms); errors ${intake.errors} (target 0)\n`)
}
