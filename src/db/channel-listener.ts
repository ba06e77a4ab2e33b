import pg from 'pg'
import type { Logger } from 'pino'

/**
 * A dedicated connection that LISTENs on one channel and reconnects when it drops. Reconnecting also
 * calls `onNotify`, since notifications sent while it was away are lost.
 */
export class ChannelListener {
  private client: pg.Client | undefined
  private stopped = false
  private retryTimer: NodeJS.Timeout | undefined

  constructor (
    private readonly connection: pg.ClientConfig,
    private readonly channel: string,
    private readonly onNotify: (payload?: string) => void,
    private readonly logger: Logger,
    private readonly onLost?: () => void
  ) {}

  async start (): Promise<void> {
    try {
      await this.connect()
    } catch (error) {
      this.logger.warn({ err: error, channel: this.channel }, 'LISTEN connection failed; polling until it is back')
      this.scheduleReconnect()
    }
  }

  private async connect (): Promise<void> {
    const client = new pg.Client(this.connection)
    client.on('error', () => {}) // the 'end' handler below reconnects
    client.on('notification', (message) => this.onNotify(message.payload))
    client.on('end', () => {
      if (this.client === client) this.client = undefined
      if (!this.stopped) {
        this.onLost?.()
        this.scheduleReconnect()
      }
    })
    await client.connect()
    await client.query(`LISTEN "${this.channel}"`)
    if (this.stopped) {
      await client.end()
      return
    }
    this.client = client
    this.onNotify()
  }

  private scheduleReconnect (): void {
    if (this.stopped || this.retryTimer !== undefined) return
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined
      this.connect().catch(() => this.scheduleReconnect())
    }, 1_000)
    this.retryTimer.unref()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearTimeout(this.retryTimer)
    const client = this.client
    this.client = undefined
    await client?.end().catch(() => {})
  }
}
