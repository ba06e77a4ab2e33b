/**
 * A transaction's deferred statements (Transaction.defer, deferRead): held until the transaction
 * sends its next query, its commit, or a deferred read's rows are asked for, then sent with it in
 * one round trip, in the order they were made. What the driver does with such a list is `send`'s
 * business (pipeline.ts for pg; PGlite runs them one after another).
 */
import type { DeferredRows, RawStatement } from './handle.js'

export interface StatementCall { statement: RawStatement, values: unknown[] }

type Row = Record<string, unknown>

interface Entry {
  call: StatementCall
  sent: boolean
  /** Deferred reads only: hands over the rows, or the error of the round trip that carried it. */
  answer?: (rows: Row[] | null, error?: unknown) => void
}

export interface StatementQueue {
  defer(statement: RawStatement, values: unknown[]): void
  deferRead<R>(statement: RawStatement, values: unknown[]): DeferredRows<R>
  /** Sends what is deferred, then this statement, in one round trip; answers this statement's rows. */
  query(statement: RawStatement, values: unknown[]): Promise<Row[]>
  /** Sends what is deferred (nothing when nothing is). */
  flush(): Promise<void>
  /** Whether anything has been sent (or tried). */
  sentAny(): boolean
}

export function createStatementQueue (send: (calls: readonly StatementCall[]) => Promise<Row[][]>): StatementQueue {
  const queue: Entry[] = []
  let sentAny = false

  async function sendQueued (last?: StatementCall): Promise<Row[]> {
    const entries = queue.splice(0)
    for (const entry of entries) entry.sent = true
    const calls = entries.map((entry) => entry.call)
    if (last !== undefined) calls.push(last)
    if (calls.length === 0) return []
    sentAny = true
    let results: Row[][]
    try {
      results = await send(calls)
    } catch (error) {
      for (const entry of entries) entry.answer?.(null, error)
      throw error
    }
    for (const [index, entry] of entries.entries()) entry.answer?.(results[index] ?? [])
    return last === undefined ? [] : results.at(-1) ?? []
  }

  return {
    defer (statement, values) {
      queue.push({ call: { statement, values }, sent: false })
    },
    deferRead<R> (statement: RawStatement, values: unknown[]): DeferredRows<R> {
      let answer: Entry['answer']
      const rows = new Promise<R[]>((resolve, reject) => {
        answer = (result, error) => { if (result === null) reject(error); else resolve(result as R[]) }
      })
      // Whoever asks for the rows sees the error; a batch that fails before asking must not leave it unhandled.
      rows.catch(() => {})
      const entry: Entry = { call: { statement, values }, sent: false, answer }
      queue.push(entry)
      return {
        rows: async () => {
          if (!entry.sent) await sendQueued()
          return await rows
        },
      }
    },
    query: async (statement, values) => await sendQueued({ statement, values }),
    flush: async () => { await sendQueued() },
    sentAny: () => sentAny,
  }
}
