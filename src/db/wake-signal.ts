/**
 * Tells workers that the inbox has new rows: at once to a worker in this process, and through
 * PostgreSQL's NOTIFY to workers elsewhere. Under load the NOTIFYs are coalesced: at most one per
 * interval (the first at once, one more at the end of the interval if rows arrived meanwhile).
 */
import type { DatabaseHandle } from './client.js'

export const INBOX_CHANNEL = 'billing_inbox'

export interface WakeSignal {
  /** Called by the intake after it stored new rows. */
  notify(): void
  /** Local listeners (a worker in this process). */
  subscribe(listener: () => void): () => void
  close(): void
}

export function createWakeSignal (database: DatabaseHandle, options: { channel?: string, intervalMs?: number, onError?: (error: unknown) => void } = {}): WakeSignal {
  const channel = options.channel ?? INBOX_CHANNEL
  const intervalMs = options.intervalMs ?? 25
  const listeners = new Set<() => void>()
  let timer: NodeJS.Timeout | undefined
  let pending = false
  let closed = false

  const sendNotify = (): void => {
    database.query({ name: `notify_${channel}`, text: 'SELECT pg_notify($1, \'\')' }, [channel]).catch((error: unknown) => {
      // A lost NOTIFY only delays work until the workers' next poll.
      options.onError?.(error)
    })
  }

  const onInterval = (): void => {
    timer = undefined
    if (pending && !closed) {
      pending = false
      sendNotify()
      timer = setTimeout(onInterval, intervalMs)
    }
  }

  return {
    notify () {
      for (const listener of listeners) listener()
      if (closed) return
      if (timer === undefined) {
        sendNotify()
        timer = setTimeout(onInterval, intervalMs)
      } else {
        pending = true
      }
    },
    subscribe (listener) {
      listeners.add(listener)
      return () => listeners.delete(listener)
    },
    close () {
      closed = true
      clearTimeout(timer)
      listeners.clear()
    },
  }
}
