/**
 * Slow clients cannot hold connections: a body trickling in a byte at a time is cut off after
 * HTTP_REQUEST_TIMEOUT_MS, and the number of open connections is capped.
 */
import { connect, type Socket } from 'node:net'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildTestApp, type TestApp } from '../helpers/app.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'

describe('slow and numerous clients', () => {
  let database: TestDatabase
  let testApp: TestApp
  let port: number

  beforeAll(async () => {
    database = await createTestDatabase()
    testApp = await buildTestApp(database, { env: { HTTP_REQUEST_TIMEOUT_MS: '2000', HTTP_MAX_CONNECTIONS: '40', LOG_LEVEL: 'warn' } })
    await testApp.app.listen({ port: 0, host: '127.0.0.1' })
    const address = testApp.app.server.address()
    port = typeof address === 'object' && address !== null ? address.port : 0
  })
  afterAll(async () => {
    await testApp.app.close()
    await database.drop()
  })

  /** Opens a connection that sends a webhook's headers and then one byte of its body every 500 ms. */
  function trickle (): { socket: Socket, closed: Promise<number>, stop(): void } {
    const socket = connect(port, '127.0.0.1')
    const openedAt = Date.now()
    socket.on('error', () => {})
    socket.write('POST /webhooks/paddle HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\nPaddle-Signature: ts=1;h1=00\r\nContent-Length: 1000\r\n\r\n')
    const timer = setInterval(() => { if (!socket.destroyed) socket.write('{') }, 500)
    const closed = new Promise<number>((resolve) => socket.on('close', () => {
      clearInterval(timer)
      resolve(Date.now() - openedAt)
    }))
    return { socket, closed, stop: () => { clearInterval(timer); socket.destroy() } }
  }

  it('closes connections whose body trickles in, within the request timeout', async () => {
    const clients = Array.from({ length: 30 }, () => trickle())
    const lifetimes = await Promise.race([
      Promise.all(clients.map(async (client) => await client.closed)),
      new Promise<null>((resolve) => setTimeout(() => resolve(null), 15_000)),
    ])
    for (const client of clients) client.stop()
    expect(lifetimes).not.toBeNull()
    // 2 s of timeout plus Node's check interval (a sixth of it here, at least 250 ms).
    for (const lifetime of lifetimes ?? []) expect(lifetime).toBeLessThan(6_000)
    const live = await fetch(`http://127.0.0.1:${port}/health/live`)
    expect(live.status).toBe(200)
  })

  /** Sends a plain GET on a fresh connection; resolves to the status line, or '' when the server dropped it unanswered. */
  async function rawGet (): Promise<string> {
    return await new Promise((resolve) => {
      const socket = connect(port, '127.0.0.1')
      let received = ''
      socket.on('data', (chunk: Buffer) => { received += chunk.toString('latin1') })
      socket.on('error', () => {})
      socket.on('close', () => resolve(received.split('\r\n')[0] ?? ''))
      socket.write('GET /health/live HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
    })
  }

  it('caps open connections: past HTTP_MAX_CONNECTIONS new ones are dropped, and served again once others close', async () => {
    const held = Array.from({ length: 40 }, () => trickle())
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await rawGet()).toBe('')
    for (const client of held) client.stop()
    await new Promise((resolve) => setTimeout(resolve, 300))
    expect(await rawGet()).toBe('HTTP/1.1 200 OK')
  })
})
