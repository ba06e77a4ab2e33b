import { spawn, type ChildProcess } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url))

export interface ServiceProcess {
  child: ChildProcess
  output: () => string
  /** Resolves with the port once the service logs that it listens. */
  listening: Promise<number>
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/** Only what a process needs from this one's environment: never the test's own DATABASE_URL or secrets. */
export function baseEnv (): Record<string, string> {
  const env: Record<string, string> = { TZ: 'UTC' }
  for (const key of ['PATH', 'HOME', 'TMPDIR', 'NODE_OPTIONS']) {
    const value = process.env[key]
    if (value !== undefined) env[key] = value
  }
  return env
}

/** Runs a TypeScript entry point (src/server.ts, src/worker.ts...) through tsx, or a built .js file through node. */
export function spawnService (entry: string, env: Record<string, string>, options: { cwd?: string, uid?: number, gid?: number } = {}): ServiceProcess {
  const args = entry.endsWith('.ts') ? ['--import', 'tsx', entry] : [entry]
  const child = spawn(process.execPath, args, {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: { ...baseEnv(), ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(options.uid === undefined ? {} : { uid: options.uid, gid: options.gid }),
  })
  let output = ''
  const listening = new Promise<number>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      output += chunk.toString('utf8')
      const match = /Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)
      if (match !== null) resolve(Number(match[1]))
    }
    child.stdout?.on('data', onData)
    child.stderr?.on('data', onData)
    child.on('exit', (code) => reject(new Error(`exited with ${String(code)} before listening:\n${output}`)))
  })
  listening.catch(() => {})
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  return { child, output: () => output, listening, exited }
}

/** A TCP port nothing listens on at the moment of asking. */
export async function freePort (): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => resolve(typeof address === 'object' && address !== null ? address.port : 0))
    })
  })
}
