/**
 * Statements sent to PostgreSQL in one round trip. pg sends each query with a Sync of its own and
 * waits for its answer before sending the next, so a transaction of n statements pays n round trips:
 * n socket writes from this process, n reads and n flushes by the server. On a loopback connection
 * to a busy server those system calls, not the statements' execution, are most of the cost (a CPU
 * profile of the worker put 35% of its time in writev alone).
 *
 * A pipeline binds and executes several already-prepared statements in order, then one Sync: one
 * write out and one flush back. PostgreSQL runs them exactly as if they had been sent one by one; when
 * one fails, it skips the rest up to the Sync, and the whole pipeline fails with that error.
 *
 * Only statements this connection has prepared are pipelined: a statement's first use on a connection
 * goes alone, the usual way, so that pg's record of what the connection has prepared stays true.
 */
import { createRequire } from 'node:module'
import type pg from 'pg'
import type { StatementCall } from './deferred-statements.js'

/** pg's own conversion of a JavaScript value to a parameter (arrays, dates, JSON), as its queries bind them. */
const { prepareValue } = createRequire(import.meta.url)('pg/lib/utils.js') as { prepareValue: (value: unknown) => unknown }

export type TypeParserFor = (typeId: number, format?: unknown) => (value: string) => unknown

type Row = Record<string, unknown>

/** What pg's connection offers a submitted query (pg/lib/connection.js), as this module uses it. */
interface WireConnection {
  stream: { cork(): void, uncork(): void }
  parsedStatements: Record<string, string | undefined>
  bind(config: { statement: string, values: unknown[], valueMapper: (value: unknown) => unknown }): void
  describe(message: { type: 'P', name: string }): void
  execute(config: { portal: string }): void
  sync(): void
  sendCopyFail(message: string): void
}

interface FieldDescription { name: string, dataTypeID: number, format?: string }

/**
 * A pg Submittable: the client hands it every message of the answer (rows, command completions, the
 * error) until ReadyForQuery, as it does for its own Query.
 */
class Pipeline implements pg.Submittable {
  private readonly results: Row[][] = []
  private fields: FieldDescription[] = []
  private parsers: Array<(value: string) => unknown> = []
  private rows: Row[] = []
  private settled = false

  constructor (
    private readonly calls: readonly StatementCall[],
    private readonly typeParser: TypeParserFor,
    private readonly settle: (error: Error | null, results: Row[][]) => void
  ) {}

  submit (connection: pg.Connection): void {
    const wire = connection as unknown as WireConnection
    wire.stream.cork()
    try {
      for (const { statement, values } of this.calls) {
        wire.bind({ statement: statement.name, values, valueMapper: prepareValue })
        wire.describe({ type: 'P', name: '' })
        wire.execute({ portal: '' })
      }
      wire.sync()
    } finally {
      wire.stream.uncork()
    }
  }

  handleRowDescription (message: { fields: FieldDescription[] }): void {
    this.fields = message.fields
    this.parsers = message.fields.map((field) => this.typeParser(field.dataTypeID, field.format ?? 'text'))
  }

  handleDataRow (message: { fields: Array<string | null> }): void {
    const row: Row = {}
    for (const [index, value] of message.fields.entries()) {
      const field = this.fields[index]
      if (field === undefined) continue
      row[field.name] = value === null ? null : this.parsers[index]?.(value)
    }
    this.rows.push(row)
  }

  handleCommandComplete (): void {
    this.nextStatement()
  }

  handleEmptyQuery (): void {
    this.nextStatement()
  }

  handlePortalSuspended (): void {
    this.fail(new Error('a pipelined statement was suspended; pipelines fetch every row'))
  }

  handleCopyInResponse (connection: pg.Connection): void {
    (connection as unknown as WireConnection).sendCopyFail('COPY is not supported in a pipeline')
  }

  handleCopyData (): void {}

  handleError (error: Error): void {
    this.fail(error)
  }

  handleReadyForQuery (): void {
    if (this.settled) return
    this.settled = true
    if (this.results.length !== this.calls.length) {
      this.settle(new Error(`a pipeline of ${this.calls.length} statements was answered for ${this.results.length}`), [])
      return
    }
    this.settle(null, this.results)
  }

  private nextStatement (): void {
    this.results.push(this.rows)
    this.rows = []
    this.fields = []
    this.parsers = []
  }

  private fail (error: Error): void {
    if (this.settled) return
    this.settled = true
    this.settle(error, [])
  }
}

/**
 * Runs the calls in order on the client and answers each one's rows. Runs of statements the
 * connection has prepared go in one round trip each; a statement not prepared yet goes alone.
 */
export async function runPipelined (client: pg.ClientBase, calls: readonly StatementCall[], typeParser: TypeParserFor): Promise<Row[][]> {
  const prepared = (client as unknown as { connection: WireConnection }).connection.parsedStatements
  const results: Row[][] = []
  let run: StatementCall[] = []
  const sendRun = async (): Promise<void> => {
    if (run.length === 0) return
    const calls = run
    run = []
    results.push(...await new Promise<Row[][]>((resolve, reject) => {
      client.query(new Pipeline(calls, typeParser, (error, rows) => { if (error === null) resolve(rows); else reject(error) }))
    }))
  }
  for (const call of calls) {
    if (calls.length > 1 && prepared[call.statement.name] === call.statement.text) {
      run.push(call)
      continue
    }
    await sendRun()
    const result = await client.query({ name: call.statement.name, text: call.statement.text, values: call.values, types: { getTypeParser: typeParser as never } })
    results.push(result.rows as Row[])
  }
  await sendRun()
  return results
}
