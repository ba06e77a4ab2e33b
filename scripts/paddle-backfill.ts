/**
 * `npm run paddle:backfill [-- --dry-run] [--restart]`: mirrors everything the Paddle account already
 * has (src/reconcile/backfill.ts), in the foreground, with a line per page and the totals at the end.
 * It runs an inbox worker of its own, so it needs nothing else running; a service or worker sharing
 * the database helps apply the events. Ctrl-C stops it after the page in hand; run it again to resume.
 */
import { parseArgs } from 'node:util'
import { createBackgroundLoops } from '../src/app/background.js'
import { openDatabase } from '../src/app/runtime.js'
import { findPendingMigrations } from '../src/db/migrate.js'
import { BackfillBusyError, type BackfillPage, type BackfillReport, type OutcomeCounts } from '../src/reconcile/backfill.js'
import { ConfigError, loadConfig } from '../src/platform/config.js'
import { createLogger } from '../src/platform/logger.js'

const USAGE = `Usage: npm run paddle:backfill [-- --dry-run] [--restart]

Mirrors every customer, subscription, transaction and adjustment of the Paddle account (PADDLE_API_KEY,
PADDLE_ENVIRONMENT) into the database (DATABASE_URL), through the inbox and the worker, as events of
origin backfill: no email events; an entity already as new here is left alone.

  --dry-run    count what a real run would create, update or leave, writing nothing
  --restart    start from the first entity even if an earlier run left its pass unfinished
  -h, --help   this text

One line per page, totals at the end. Ctrl-C (or SIGTERM) stops after the page in hand; run again to
resume after it. Exits 0 when the pass completed, 1 when it failed, 130 when it was interrupted,
2 on a usage or configuration problem.
`

const out = (text: string): void => { process.stdout.write(`${text}\n`) }
const counts = (value: OutcomeCounts): string =>
  `${value.created} created, ${value.updated} updated, ${value.unchanged} unchanged, ${value.stale} stale, ${value.failed} failed`

function pageLine (page: BackfillPage): string {
  const of = page.progress.estimatedTotal === null ? '' : ` of ~${page.progress.estimatedTotal}`
  return `${`${page.entity}s`.padEnd(13)} page ${String(page.page).padStart(4)}: ${String(page.listed).padStart(3)} listed${page.dryRun ? ' (dry run)' : ''}: ` +
    `${counts(page.counts)}  [${page.progress.listed}${of} listed so far]`
}

function summary (report: BackfillReport): string[] {
  const lines = [`\nbackfill ${report.runId} ${report.status}${report.dryRun ? ' (dry run: nothing was written)' : ''}${report.resumed ? ', resumed an unfinished pass' : ''}`]
  for (const [name, entity] of Object.entries(report.entities)) {
    lines.push(`  ${name.padEnd(13)} ${String(entity.listed).padStart(7)} listed: ${counts(entity)}${entity.done ? '' : ' (not finished)'}`)
  }
  lines.push(`  ${'total'.padEnd(13)} ${String(report.totals.listed).padStart(7)} listed: ${counts(report.totals)}`)
  return lines
}

async function main (): Promise<number> {
  let flags: { 'dry-run'?: boolean, restart?: boolean, help?: boolean }
  try {
    flags = parseArgs({ options: { 'dry-run': { type: 'boolean' }, restart: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } } }).values
  } catch (error) {
    process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n\n${USAGE}`)
    return 2
  }
  if (flags.help === true) {
    out(USAGE)
    return 0
  }
  let config
  try {
    config = loadConfig({ role: 'worker' })
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`)
      return 2
    }
    throw error
  }
  if (config.PADDLE_API_KEY === undefined) {
    process.stderr.write('PADDLE_API_KEY is not set: the backfill reads Paddle\'s API (customer.read, subscription.read, transaction.read, adjustment.read)\n')
    return 2
  }
  // Progress goes to stdout as the lines above; the service's own log lines go to stderr, warnings
  // and errors only unless LOG_LEVEL asks for debug or trace.
  const logger = createLogger({ LOG_LEVEL: config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL }, process.stderr)
  const database = await openDatabase(config, logger, 'tracksera-billing-backfill')
  const loops = createBackgroundLoops(config, { database, logger })
  const stopping = new AbortController()
  const onSignal = (signal: string): void => {
    if (stopping.signal.aborted) return
    out(`${signal}: stopping after the page in hand (its cursor is saved; run again to resume)`)
    stopping.abort()
  }
  process.on('SIGINT', () => onSignal('SIGINT'))
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  try {
    const pending = await findPendingMigrations(database)
    if (pending.length > 0) {
      process.stderr.write(`the database lacks ${pending.length} migration(s) (${pending.join(', ')}): run npm run db:migrate first\n`)
      return 2
    }
    const backfiller = loops.reconciler?.backfiller
    if (backfiller === undefined) throw new Error('reconciliation is off')
    const dryRun = flags['dry-run'] === true
    // A dry run stores nothing for a worker to apply.
    if (!dryRun) await loops.worker.start()
    out(`backfill from Paddle (${config.PADDLE_ENVIRONMENT})${dryRun ? ', dry run' : ''}${flags.restart === true ? ', from the start' : ''}`)
    const report = await backfiller.run({ dryRun, restart: flags.restart === true, trigger: 'cli', stopping: stopping.signal, onPage: (page) => out(pageLine(page)) })
    for (const line of summary(report)) out(line)
    return report.status === 'completed' ? 0 : 130
  } catch (error) {
    if (error instanceof BackfillBusyError) process.stderr.write(`${error.message}\n`)
    else process.stderr.write(`backfill failed: ${error instanceof Error ? error.message : String(error)}\nrun it again to resume after the last page done\n`)
    return 1
  } finally {
    await loops.stop()
    await database.close()
  }
}

main().then((code) => { process.exitCode = code }, (error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.stack ?? error.message : String(error)}\n`)
  process.exitCode = 1
})
