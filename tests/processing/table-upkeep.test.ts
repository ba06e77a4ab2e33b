import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ANALYZE_AT_LEAST_EVERY, createTableUpkeep, MAINTAINED_TABLES, sizeChanged } from '#src/processing/table-upkeep.js'
import { createTestDatabase, type TestDatabase } from '../helpers/database.js'

describe('sizeChanged', () => {
  it('tells a table that doubled or halved since it was last analyzed', () => {
    expect([sizeChanged(1000, 1999), sizeChanged(1000, 2000), sizeChanged(1000, 501), sizeChanged(1000, 499)]).toEqual([false, true, false, true])
    // Never counted (-1) or empty: analyzed again once it holds a couple of rows.
    expect([sizeChanged(-1, 0), sizeChanged(-1, 2), sizeChanged(0, 1), sizeChanged(0, 2)]).toEqual([false, true, false, true])
  })
})

describe('table upkeep', () => {
  let database: TestDatabase
  beforeAll(async () => { database = await createTestDatabase() })
  afterAll(async () => { await database.drop() })

  /** VACUUM and ANALYZE counts per maintained table, from PostgreSQL's statistics. */
  const counts = async (): Promise<Record<string, { vacuums: number, analyzes: number }>> => Object.fromEntries((await database.handle.query<{ table: string, vacuums: number, analyzes: number }>({
    name: 'test_upkeep_rounds',
    text: 'SELECT relname AS table, vacuum_count::int AS vacuums, analyze_count::int AS analyzes FROM pg_stat_user_tables WHERE relname = ANY($1::text[])',
  }, [MAINTAINED_TABLES])).map(({ table, vacuums, analyzes }) => [table, { vacuums, analyzes }]))

  /** What a round did to each table: [VACUUMs, ANALYZEs]. */
  const round = async (run: () => Promise<void>): Promise<Record<string, [number, number]>> => {
    const before = await counts()
    await run()
    const after = await counts()
    return Object.fromEntries(MAINTAINED_TABLES.map((table) => [table, [
      (after[table]?.vacuums ?? 0) - (before[table]?.vacuums ?? 0),
      (after[table]?.analyzes ?? 0) - (before[table]?.analyzes ?? 0),
    ]]))
  }

  const addCustomers = async (count: number): Promise<void> => {
    await database.handle.query({
      name: 'test_upkeep_customers',
      text: "INSERT INTO customers (id) SELECT 'ctm_upkeep_' || gen_random_uuid() FROM generate_series(1, $1::int)",
    }, [count])
  }

  it('VACUUMs every table each round, and ANALYZEs the inbox each round and a state table when its size doubled', async () => {
    const upkeep = createTableUpkeep(database.handle)
    await addCustomers(100)
    const everything = Object.fromEntries(MAINTAINED_TABLES.map((table) => [table, [1, 1]]))
    const vacuumedOnly = { ...Object.fromEntries(MAINTAINED_TABLES.map((table) => [table, [1, 0]])), paddle_inbox: [1, 1] }
    expect(await round(upkeep.run)).toEqual(everything) // nothing known of the tables yet
    expect(await round(upkeep.run)).toEqual(vacuumedOnly)
    await addCustomers(60) // 160 rows: not yet twice the 100 it was analyzed with
    expect(await round(upkeep.run)).toEqual(vacuumedOnly)
    await addCustomers(40)
    expect(await round(upkeep.run)).toEqual({ ...vacuumedOnly, customers: [1, 1] })
    expect(await round(upkeep.run)).toEqual(vacuumedOnly)
  })

  it(`ANALYZEs a state table at least every ${ANALYZE_AT_LEAST_EVERY} rounds while its size holds`, async () => {
    const upkeep = createTableUpkeep(database.handle)
    const analyzed: number[] = []
    for (let index = 0; index < 2 * ANALYZE_AT_LEAST_EVERY + 1; index += 1) {
      if ((await round(upkeep.run)).subscriptions?.[1] === 1) analyzed.push(index)
    }
    expect(analyzed).toEqual([0, ANALYZE_AT_LEAST_EVERY, 2 * ANALYZE_AT_LEAST_EVERY])
  })
})
