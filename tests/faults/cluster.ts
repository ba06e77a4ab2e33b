/**
 * A PostgreSQL cluster of the fault tests' own: initdb into a temporary directory, a free port, run
 * as an unprivileged user (PostgreSQL refuses to run as root). The tests stop, start and terminate
 * its sessions as they please; the shared server is never touched.
 */
import { execFile } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, rmSync, chownSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { freePort } from '../helpers/process.js'

const run = promisify(execFile)

/** The directory of the newest installed PostgreSQL's binaries, or null when there is none. */
export function postgresBinaries (): string | null {
  const root = '/usr/lib/postgresql'
  if (!existsSync(root)) return null
  const versions = readdirSync(root).filter((name) => /^\d+$/.test(name)).sort((a, b) => Number(b) - Number(a))
  for (const version of versions) {
    const bin = join(root, version, 'bin')
    if (existsSync(join(bin, 'initdb')) && existsSync(join(bin, 'pg_ctl'))) return bin
  }
  return null
}

/** Why the fault suite cannot run here, or null when it can. */
export function clusterUnavailableReason (): string | null {
  if (postgresBinaries() === null) return 'no PostgreSQL server binaries under /usr/lib/postgresql (install postgresql to run the fault suite)'
  if (process.getuid?.() === 0 && !existsSync('/usr/sbin/runuser')) return 'running as root without runuser to drop to the postgres user'
  return null
}

export interface LocalCluster {
  readonly port: number
  /** A connection string for one of its databases. */
  url(database?: string): string
  start(): Promise<void>
  /** pg_ctl stop: `fast` rolls back and disconnects every session, as a restart by an operator would. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>
  /** Runs one statement as the superuser on the `postgres` database. */
  sql<Row = Record<string, unknown>>(text: string, values?: unknown[]): Promise<Row[]>
  /** Ends the sessions whose application_name starts with `applicationPrefix`; resolves to how many. */
  terminate(applicationPrefix: string, options?: { activeOnly?: boolean }): Promise<number>
  destroy(): Promise<void>
}

export async function startLocalCluster (): Promise<LocalCluster> {
  const bin = postgresBinaries()
  if (bin === null) throw new Error('no PostgreSQL binaries')
  const directory = mkdtempSync(join(tmpdir(), 'billing-faults-'))
  const dataDir = join(directory, 'data')
  const asRoot = process.getuid?.() === 0
  let owner: { uid: number, gid: number } | null = null
  if (asRoot) {
    const { stdout: uid } = await run('id', ['-u', 'postgres'])
    const { stdout: gid } = await run('id', ['-g', 'postgres'])
    owner = { uid: Number(uid.trim()), gid: Number(gid.trim()) }
    chownSync(directory, owner.uid, owner.gid)
  }
  const asOwner = async (command: string, args: string[]): Promise<string> => {
    const [file, argv] = asRoot ? ['/usr/sbin/runuser', ['-u', 'postgres', '--', join(bin, command), ...args]] : [join(bin, command), args]
    const { stdout } = await run(file, argv, { cwd: directory })
    return stdout
  }
  await asOwner('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C'])
  const port = await freePort()
  const url = (database = 'postgres'): string => `postgres://postgres@127.0.0.1:${port}/${database}`
  const settings = [
    `-p ${port}`, '-c listen_addresses=127.0.0.1', `-k ${directory}`,
    // Durability is not what these tests are about; fsync off keeps them quick on a shared disk.
    '-c fsync=off', '-c synchronous_commit=off', '-c full_page_writes=off', '-c max_connections=200',
  ].join(' ')

  const cluster: LocalCluster = {
    port,
    url,
    async start () {
      await asOwner('pg_ctl', ['-D', dataDir, '-o', settings, '-l', join(directory, 'server.log'), '-w', '-t', '60', 'start'])
    },
    async stop (mode = 'fast') {
      await asOwner('pg_ctl', ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop'])
    },
    async sql<Row>(text: string, values: unknown[] = []) {
      const client = new pg.Client({ connectionString: url(), application_name: 'fault-test' })
      await client.connect()
      try {
        return (await client.query(text, values)).rows as Row[]
      } finally {
        await client.end()
      }
    },
    async terminate (applicationPrefix, options = {}) {
      const rows = await cluster.sql<{ ended: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ended FROM pg_stat_activity
         WHERE application_name LIKE $1 || '%' AND pid <> pg_backend_pid() AND ($2::boolean IS FALSE OR state <> 'idle')`,
        [applicationPrefix, options.activeOnly ?? false])
      return rows.filter((row) => row.ended).length
    },
    async destroy () {
      await cluster.stop('immediate').catch(() => {})
      rmSync(directory, { recursive: true, force: true })
    },
  }
  await cluster.start()
  return cluster
}
