/**
 * Deferred statements (Transaction.defer, deferRead): held until the transaction's next query or its
 * commit, then sent with it. Deferring changes when a statement travels, never what the transaction
 * does: these tests run on whichever database the suite has, and the round-trip count on PostgreSQL.
 */
import { sql } from 'drizzle-orm'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { RawStatement } from '#src/db/client.js'
import { runPipelined } from '#src/db/pipeline.js'
import { createTestDatabase, skipWithoutPostgres, type TestDatabase } from '../helpers/database.js'

const CREATE: RawStatement = { name: 'probe_create', text: 'CREATE TABLE IF NOT EXISTS deferred_probe (id text PRIMARY KEY, n integer NOT NULL)' }
const INSERT: RawStatement = { name: 'probe_insert', text: 'INSERT INTO deferred_probe (id, n) VALUES ($1, $2)' }
const SET: RawStatement = { name: 'probe_set', text: 'UPDATE deferred_probe SET n = $2 WHERE id = $1' }
const READ: RawStatement = { name: 'probe_read', text: 'SELECT id, n FROM deferred_probe WHERE id = ANY($1::text[]) ORDER BY id' }

let database: TestDatabase
beforeAll(async () => {
  database = await createTestDatabase()
  await database.handle.query(CREATE, [])
})
afterAll(async () => { await database.drop() })

const stored = async (...ids: string[]) => await database.handle.query<{ id: string, n: number }>(READ, [ids])

describe('deferred statements', () => {
  it('run before the next query, in the order they were made', async () => {
    const rows = await database.handle.transaction(async (tx) => {
      tx.defer(INSERT, ['order', 1])
      tx.defer(SET, ['order', 2])
      tx.defer(SET, ['order', 3])
      return await tx.query<{ id: string, n: number }>(READ, [['order']])
    })
    expect(rows).toEqual([{ id: 'order', n: 3 }])
    expect(await stored('order')).toEqual([{ id: 'order', n: 3 }])
  })

  it('are committed with the transaction when no query follows them', async () => {
    await database.handle.transaction(async (tx) => {
      tx.defer(INSERT, ['at-commit', 7])
    })
    expect(await stored('at-commit')).toEqual([{ id: 'at-commit', n: 7 }])
  })

  it('a deferred read sees the data as it stood where it was made, not where it was sent', async () => {
    const { early, late } = await database.handle.transaction(async (tx) => {
      tx.defer(INSERT, ['as-of', 1])
      const early = tx.deferRead<{ id: string, n: number }>(READ, [['as-of']])
      tx.defer(SET, ['as-of', 2])
      const late = await tx.query<{ id: string, n: number }>(READ, [['as-of']])
      return { early: await early.rows(), late }
    })
    expect(early).toEqual([{ id: 'as-of', n: 1 }])
    expect(late).toEqual([{ id: 'as-of', n: 2 }])
  })

  it('a deferred read asked for before any query is sent then, with what was deferred before it', async () => {
    const rows = await database.handle.transaction(async (tx) => {
      tx.defer(INSERT, ['asked', 5])
      return await tx.deferRead<{ id: string, n: number }>(READ, [['asked']]).rows()
    })
    expect(rows).toEqual([{ id: 'asked', n: 5 }])
  })

  it('a deferred write that fails fails the next query with its own error, and nothing of the transaction is kept', async () => {
    await database.handle.query(INSERT, ['taken', 1])
    const attempt = database.handle.transaction(async (tx) => {
      tx.defer(INSERT, ['before-failure', 1])
      tx.defer(INSERT, ['taken', 2])
      const read = tx.deferRead(READ, [['taken']])
      tx.defer(SET, ['taken', 3])
      await tx.query(READ, [['taken']])
      return await read.rows()
    })
    await expect(attempt).rejects.toMatchObject({ code: '23505' })
    expect(await stored('before-failure', 'taken')).toEqual([{ id: 'taken', n: 1 }])
    // The connections are as good as before: the same statements work in the next transactions.
    for (let round = 0; round < 3; round += 1) {
      await database.handle.transaction(async (tx) => {
        tx.defer(SET, ['taken', 10 + round])
        expect(await tx.query(READ, [['taken']])).toEqual([{ id: 'taken', n: 10 + round }])
      })
    }
  })

  it('the query builder of the same transaction runs after them', async () => {
    const rows = await database.handle.transaction(async (tx) => {
      tx.defer(INSERT, ['builder', 4])
      const result = await tx.db.execute(sql`SELECT n FROM deferred_probe WHERE id = 'builder'`)
      return (result as unknown as { rows: Array<{ n: number }> }).rows
    })
    expect(rows).toEqual([{ n: 4 }])
  })

  it('a transaction that throws sends nothing it deferred', async () => {
    await expect(database.handle.transaction(async (tx) => {
      tx.defer(INSERT, ['never', 1])
      throw new Error('changed its mind')
    })).rejects.toThrow('changed its mind')
    expect(await stored('never')).toEqual([])
  })
})

describe.skipIf(skipWithoutPostgres('round-trips'))('pipelines on PostgreSQL', () => {
  /** Counts the socket writes a client makes while `run` runs. */
  async function socketWrites (client: pg.Client, run: () => Promise<unknown>): Promise<number> {
    const socket = (client as unknown as { connection: { stream: Record<'_write' | '_writev', (...args: unknown[]) => unknown> } }).connection.stream
    let writes = 0
    const original = { _write: socket._write, _writev: socket._writev }
    for (const method of ['_write', '_writev'] as const) {
      socket[method] = function (this: unknown, ...args: unknown[]) {
        writes += 1
        return original[method].apply(this, args)
      }
    }
    try {
      await run()
    } finally {
      Object.assign(socket, original)
    }
    return writes
  }

  it('sends prepared statements in one write and answers each its own rows; a statement\'s first use goes alone', async () => {
    const client = new pg.Client({ connectionString: database.url })
    await client.connect()
    try {
      await client.query('BEGIN')
      const calls = [
        { statement: INSERT, values: ['pipelined', 1] },
        { statement: READ, values: [['pipelined']] },
        { statement: SET, values: ['pipelined', 2] },
        { statement: READ, values: [['pipelined']] },
      ]
      const parse = (value: string) => value
      let firstResults: unknown
      // First use on this connection: each statement is prepared on its own round trip.
      const first = await socketWrites(client, async () => { firstResults = await runPipelined(client, calls, () => parse) })
      expect(first).toBe(4) // INSERT, READ and SET each prepared alone, then the second READ
      expect(firstResults).toEqual([[], [{ id: 'pipelined', n: '1' }], [], [{ id: 'pipelined', n: '2' }]])
      await client.query('ROLLBACK')

      await client.query('BEGIN')
      let results: unknown
      const again = await socketWrites(client, async () => { results = await runPipelined(client, calls, () => parse) })
      expect(again).toBe(1)
      expect(results).toEqual(firstResults)
      await client.query('ROLLBACK')
    } finally {
      await client.end()
    }
  })
})
