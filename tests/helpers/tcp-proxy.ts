import net from 'node:net'

/**
 * A TCP proxy in front of PostgreSQL that a test can cut and restore: the way to make the database
 * unreachable for one app without stopping the server that other tests share.
 */
export class TcpProxy {
  private server: net.Server | undefined
  private readonly sockets = new Set<net.Socket>()
  port = 0

  constructor (private readonly targetHost: string, private readonly targetPort: number) {}

  static async inFrontOf (databaseUrl: string): Promise<{ proxy: TcpProxy, url: string }> {
    const target = new URL(databaseUrl)
    const proxy = new TcpProxy(target.hostname, Number(target.port === '' ? 5432 : target.port))
    await proxy.start()
    const url = new URL(databaseUrl)
    url.hostname = '127.0.0.1'
    url.port = String(proxy.port)
    return { proxy, url: url.toString() }
  }

  async start (): Promise<void> {
    const server = net.createServer((client) => {
      const upstream = net.connect(this.targetPort, this.targetHost)
      for (const socket of [client, upstream]) {
        this.sockets.add(socket)
        socket.on('close', () => this.sockets.delete(socket))
        socket.on('error', () => { client.destroy(); upstream.destroy() })
      }
      client.pipe(upstream).pipe(client)
    })
    await new Promise<void>((resolve) => server.listen(this.port, '127.0.0.1', resolve))
    this.port = (server.address() as net.AddressInfo).port
    this.server = server
  }

  /** Drops every open connection and refuses new ones, as a dead database host would. */
  async cut (): Promise<void> {
    const server = this.server
    this.server = undefined
    for (const socket of this.sockets) socket.destroy()
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()))
  }

  /** Listens again on the same port. */
  async restore (): Promise<void> {
    if (this.server === undefined) await this.start()
  }

  async close (): Promise<void> {
    await this.cut()
  }
}
