// Shared pieces of the benchmark scripts: a fresh database, the built service as a child process, tables.
import { spawn, type ChildProcess } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import pg from 'pg'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = fileURLToPath(new URL('../', import.meta.url))

export interface BenchDatabase { url: string, drop(): Promise<void> }

/** A fresh database on the server named by BENCH_DATABASE_URL (default: this machine's PostgreSQL). */
export async function createBenchDatabase (serverUrl: string): Promise<BenchDatabase> {
  const admin = new URL(serverUrl)
  admin.pathname = '/postgres'
  const name = `billing_bench_${Date.now()}`
  const client = new pg.Client({ connectionString: admin.toString() })
  await client.connect()
  await client.query(`CREATE DATABASE "${name}"`)
  await client.end()
  const url = new URL(serverUrl)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const dropper = new pg.Client({ connectionString: admin.toString() })
      await dropper.connect()
      await dropper.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
      await dropper.end()
    },
  }
}

/** The webhook secret and internal API token every bench starts the service with. */
export const BENCH_WEBHOOK_SECRET = 'pdl_ntfset_01jbench00000000000000000000_BenchmarkSecret000000000000000'
export const BENCH_API_TOKEN = 'bench-internal-token-0123456789'

/** Starts the built service (dist/server.js) on the database with the bench's secrets, `env` on top. */
export async function startService (databaseUrl: string, env: Record<string, string>, options: { nodeArgs?: string[] } = {}): Promise<ServiceChild> {
  return await startBuilt('dist/server.js', {
    DATABASE_URL: databaseUrl,
    PADDLE_WEBHOOK_SECRETS: BENCH_WEBHOOK_SECRET,
    INTERNAL_API_TOKENS: BENCH_API_TOKEN,
    ...env,
  }, options)
}

export interface ServiceChild {
  child: ChildProcess
  port: number
  /** Throws (with its stderr) if the process has exited. */
  assertRunning(): void
  stop(): Promise<number | null>
}

export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Starts a built entry point and, for the service, waits until /health/ready answers 200. */
export async function startBuilt (entry: string, env: Record<string, string>, options: { http?: boolean, nodeArgs?: string[] } = {}): Promise<ServiceChild> {
  const port = options.http === false ? 0 : await freePort()
  const child = spawn(process.execPath, [...(options.nodeArgs ?? []), entry], {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? '', TZ: 'UTC', ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  let stderr = ''
  child.stderr?.on('data', (chunk: Buffer) => { stderr += chunk.toString('utf8') })
  const exited = new Promise<never>((_resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`${entry} exited with ${String(code)}:\n${stderr}`)))
  })
  exited.catch(() => {})
  if (options.http !== false) {
    const deadline = Date.now() + 30_000
    for (;;) {
      const ready = await fetch(`http://127.0.0.1:${port}/health/ready`).then((response) => response.ok, () => false)
      if (ready) break
      if (Date.now() > deadline || child.exitCode !== null) await Promise.race([exited, Promise.reject(new Error(`${entry} did not become ready`))])
      await sleep(100)
    }
  }
  return {
    child,
    port,
    assertRunning: () => {
      if (child.exitCode !== null) throw new Error(`${entry} exited with ${child.exitCode}:\n${stderr}`)
    },
    stop: async () => await new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) {
        resolve(child.exitCode)
        return
      }
      child.on('exit', (code) => resolve(code))
      child.kill('SIGTERM')
    }),
  }
}

export function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN
  const index = Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)
  return sorted[Math.max(0, index)] ?? Number.NaN
}

export function printTable (title: string, headers: string[], rows: Array<Array<string | number>>): void {
  const cells = [headers, ...rows.map((row) => row.map((cell) => typeof cell === 'number' ? formatNumber(cell) : cell))]
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => String(row[column] ?? '').length)))
  const line = (row: Array<string | number>) => `| ${row.map((cell, column) => String(cell).padEnd(widths[column] ?? 0)).join(' | ')} |`
  const out = [`\n${title}`, line(headers), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...cells.slice(1).map(line)]
  process.stdout.write(`${out.join('\n')}\n`)
}

function formatNumber (value: number): string {
  if (!Number.isFinite(value)) return String(value)
  if (Number.isInteger(value)) return String(value)
  return value >= 100 ? value.toFixed(0) : value.toFixed(2)
}

export const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

/**
 * CPU seconds used so far by every local process named postgres (Linux /proc), or null where that
 * cannot be read (another OS, a remote server). Lets a benchmark report the database's CPU per request.
 * A backend that has exited counts too, in its postmaster's reaped-children time (cutime, cstime):
 * without it the sum drops whenever a connection closes (a pool, another client of the server) and a
 * difference can come out negative.
 */
export function postgresCpuSeconds (): number | null {
  try {
    const ticksPerSecond = 100
    let ticks = 0
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue
      let stat: string
      try {
        stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      } catch {
        continue
      }
      const close = stat.lastIndexOf(')')
      if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue
      const fields = stat.slice(close + 2).split(' ')
      ticks += Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]) // utime, stime, cutime, cstime
    }
    return ticks / ticksPerSecond
  } catch {
    return null
  }
}

/** CPU seconds used so far by one child process. */
export function processCpuSeconds (pid: number | undefined): number | null {
  if (pid === undefined) return null
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(fields[11]) + Number(fields[12])) / 100
  } catch {
    return null
  }
}

export function microsPer (seconds: number | null, count: number): string {
  return seconds === null || count === 0 ? 'n/a' : (1e6 * seconds / count).toFixed(0)
}

export interface StraightResult { requests: number, rate: number, p50: number, p99: number, errors: number, postgresCpu: number | null }

/**
 * The ceiling a benchmark compares the service with: `connections` clients, each on its own pg
 * connection, sending the same statement back to back for `durationSeconds` (after a 3 s warm-up).
 */
export async function straightThroughPg (
  databaseUrl: string,
  connections: number,
  durationSeconds: number,
  statement: { name: string, text: string },
  nextValues: () => unknown[]
): Promise<StraightResult> {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: connections })
  const loop = async (deadline: number, latencies: number[] | null): Promise<number> => {
    const client = await pool.connect()
    let errors = 0
    try {
      while (Date.now() < deadline) {
        const values = nextValues()
        const started = process.hrtime.bigint()
        try {
          await client.query({ name: statement.name, text: statement.text, values })
        } catch {
          errors += 1
        }
        latencies?.push(Number(process.hrtime.bigint() - started) / 1e6)
      }
    } finally {
      client.release()
    }
    return errors
  }
  const run = async (seconds: number, latencies: number[] | null) =>
    await Promise.all(Array.from({ length: connections }, async () => await loop(Date.now() + seconds * 1000, latencies)))
  await run(3, null)
  await sleep(200)
  const latencies: number[] = []
  const postgresBefore = postgresCpuSeconds()
  const started = Date.now()
  const errors = (await run(durationSeconds, latencies)).reduce((sum, count) => sum + count, 0)
  const elapsed = (Date.now() - started) / 1000
  const postgresAfter = postgresCpuSeconds()
  await pool.end()
  latencies.sort((a, b) => a - b)
  return {
    requests: latencies.length,
    rate: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    postgresCpu: postgresAfter === null || postgresBefore === null ? null : postgresAfter - postgresBefore,
  }
}

export function cpuDifference (after: number | null, before: number | null): number | null {
  return after === null || before === null ? null : after - before
}
