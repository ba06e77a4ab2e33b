/**
 * A lean HTTP/1.1 load generator: N keep-alive connections, one request in flight on each, for a
 * fixed time. The benchmark machine has two cores shared by the load, the service and PostgreSQL,
 * so the load must cost as little CPU as possible (autocannon costs several times more per request).
 */
import net from 'node:net'
import { percentile } from './support.js'

export interface LoadRequest {
  method: 'GET' | 'POST'
  path: string
  headers?: Record<string, string>
  body?: Buffer
}

export interface LoadResult {
  requests: number
  rate: number
  p50: number
  p99: number
  /** Responses other than the expected status, plus connection failures. */
  errors: number
  statusCounts: Record<number, number>
}

export interface LoadOptions {
  port: number
  connections: number
  durationSeconds: number
  /** Stop after this many requests, if that comes before the end of durationSeconds. */
  requests?: number
  next: () => LoadRequest
  expectStatus?: (status: number) => boolean
}

export async function runLoad (options: LoadOptions): Promise<LoadResult> {
  const latencies: number[] = []
  const statusCounts: Record<number, number> = {}
  let errors = 0
  const expect = options.expectStatus ?? ((status: number) => status >= 200 && status < 300)
  const started = Date.now()
  const deadline = started + options.durationSeconds * 1000
  let issued = 0

  const connection = async (): Promise<void> => await new Promise<void>((resolve) => {
    const socket = net.connect(options.port, '127.0.0.1')
    socket.setNoDelay(true)
    let buffer: Buffer = Buffer.alloc(0)
    let sentAt = 0n
    const send = (): void => {
      if (Date.now() >= deadline || issued >= (options.requests ?? Infinity)) {
        socket.end()
        return
      }
      issued += 1
      const request = options.next()
      const body = request.body ?? Buffer.alloc(0)
      const headers = Object.entries(request.headers ?? {}).map(([name, value]) => `${name}: ${value}\r\n`).join('')
      const head = `${request.method} ${request.path} HTTP/1.1\r\nhost: 127.0.0.1\r\n${headers}content-length: ${body.length}\r\n\r\n`
      sentAt = process.hrtime.bigint()
      socket.cork()
      socket.write(head)
      if (body.length > 0) socket.write(body)
      socket.uncork()
    }
    socket.on('connect', send)
    socket.on('data', (chunk: Buffer) => {
      buffer = buffer.length === 0 ? chunk : Buffer.concat([buffer, chunk])
      for (;;) {
        const headerEnd = buffer.indexOf('\r\n\r\n')
        if (headerEnd === -1) return
        const head = buffer.subarray(0, headerEnd).toString('latin1')
        const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0)
        if (buffer.length < headerEnd + 4 + length) return
        const status = Number(head.slice(9, 12))
        statusCounts[status] = (statusCounts[status] ?? 0) + 1
        if (!expect(status)) errors += 1
        latencies.push(Number(process.hrtime.bigint() - sentAt) / 1e6)
        buffer = buffer.subarray(headerEnd + 4 + length)
        send()
      }
    })
    socket.on('error', () => { errors += 1 })
    socket.on('close', () => resolve())
  })

  await Promise.all(Array.from({ length: options.connections }, connection))
  const elapsed = (Date.now() - started) / 1000
  latencies.sort((a, b) => a - b)
  return {
    requests: latencies.length,
    rate: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
    statusCounts,
  }
}
