/**
 * The entitlement decision's inputs per account (its subscriptions, as findAccountSubscriptions
 * reads them), kept in memory so that a read costs no round trip to PostgreSQL. The decision itself
 * is still evaluated at request time (decide.ts), since it also moves with the clock.
 *
 * Kept right by invalidation, never by expiry:
 * - a trigger NOTIFYs `billing_entitlements` with the account id in the transaction that changes a
 *   subscription row (drizzle/0007), so every process hears of a committed change within milliseconds;
 * - the process that applied it drops the entries at once, after its commit (announceEntitlementChanges);
 * - nothing is kept or served from memory while the LISTEN connection is not listening: from start
 *   until it listens, and from a lost connection until it listens again, when everything is dropped
 *   (notifications sent meanwhile are lost). A heartbeat NOTIFY must come back through LISTEN in
 *   time, or the connection counts as lost: a socket can die without saying so;
 * - a read in flight when its account is invalidated is answered, but not kept.
 */
import { randomUUID } from 'node:crypto'
import type { Logger } from 'pino'
import { sql } from 'drizzle-orm'
import type { DatabaseHandle } from '../db/client.js'
import { findAccountSubscriptions, type AccountSubscription } from './entitlements.repository.js'

export const ENTITLEMENT_CHANNEL = 'billing_entitlements'
/** Account ids never start with '~' (see AccountId in platform/schemas.ts). */
const HEARTBEAT_PREFIX = '~heartbeat:'

export interface EntitlementCacheOptions {
  database: DatabaseHandle
  logger: Logger
  /** Most accounts kept; the least recently read go first. 0: no cache, every read goes to PostgreSQL. */
  maxEntries: number
  /** How often the LISTEN connection proves it still hears (default 1 s). */
  heartbeatIntervalMs?: number
  /** Unanswered heartbeat older than this: the connection counts as lost (default 3 s). */
  heartbeatTimeoutMs?: number
}

export interface EntitlementCacheStats { hits: number, misses: number, bypassed: number, invalidations: number, entries: number, listening: boolean }

export interface EntitlementCache {
  /** The account's subscriptions, from memory when they are known to be current. */
  subscriptionsOf(accountId: string): Promise<AccountSubscription[]>
  invalidate(accountIds: Iterable<string>): void
  start(): Promise<void>
  stop(): Promise<void>
  stats(): EntitlementCacheStats
}

/** Changes committed by this process (the worker), told to the caches of this process at once. */
const localListeners = new WeakMap<DatabaseHandle, Set<(accountIds: readonly string[]) => void>>()

/**
 * Called by the worker after its transaction committed, with the accounts whose entitlement inputs
 * it changed, so that this process never serves what it has just changed, not even for the
 * milliseconds its own NOTIFY takes to come back.
 */
export function announceEntitlementChanges (database: DatabaseHandle, accountIds: readonly string[]): void {
  if (accountIds.length === 0) return
  for (const listener of localListeners.get(database) ?? []) listener(accountIds)
}

interface Fill { promise: Promise<AccountSubscription[]>, current: boolean }

export function createEntitlementCache (options: EntitlementCacheOptions): EntitlementCache {
  const { database, logger, maxEntries } = options
  const heartbeatIntervalMs = options.heartbeatIntervalMs ?? 1_000
  const heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? 3_000
  // Map order is the eviction order: a hit moves its entry to the end.
  const entries = new Map<string, AccountSubscription[]>()
  const fills = new Map<string, Fill>()
  const counters = { hits: 0, misses: 0, bypassed: 0, invalidations: 0 }
  let listening = false
  let unlisten: (() => Promise<void>) | undefined
  let heartbeatTimer: NodeJS.Timeout | undefined
  // The heartbeat sent and not heard back yet, with the time it was sent.
  let heartbeatToken: string | null = null
  let heartbeatSentAt = 0
  const instance = randomUUID()
  let heartbeatCount = 0

  const dropAll = (): void => {
    entries.clear()
    for (const fill of fills.values()) fill.current = false
    fills.clear()
  }

  const invalidate = (accountIds: Iterable<string>): void => {
    for (const accountId of accountIds) {
      counters.invalidations += 1
      entries.delete(accountId)
      const fill = fills.get(accountId)
      if (fill !== undefined) {
        fill.current = false
        fills.delete(accountId)
      }
    }
  }

  const lost = (reason: string): void => {
    if (listening) logger.warn({ reason }, 'entitlement cache off until LISTEN is back: reads go to the database')
    listening = false
    dropAll()
  }

  /** From now on, every change committed from now is heard: start from nothing. */
  const listeningAgain = (): void => {
    dropAll()
    if (!listening) logger.info('entitlement cache listening')
    listening = true
  }

  const onNotify = (payload?: string): void => {
    if (payload === undefined) {
      // (Re)listening: whatever changed while nobody listened is unknown.
      heartbeatToken = null
      listeningAgain()
      return
    }
    if (payload.startsWith(HEARTBEAT_PREFIX)) {
      // Heard back: every change committed before it was sent has been heard too (notifications
      // arrive in commit order), so a connection only slow to answer is trusted again.
      if (payload === heartbeatToken) {
        heartbeatToken = null
        if (!listening) listeningAgain()
      }
      return
    }
    invalidate([payload])
  }

  const beat = (): void => {
    if (heartbeatToken !== null) {
      if (Date.now() - heartbeatSentAt <= heartbeatTimeoutMs) return
      lost('heartbeat not heard back in time')
    }
    heartbeatCount += 1
    heartbeatToken = `${HEARTBEAT_PREFIX}${instance}:${heartbeatCount}`
    heartbeatSentAt = Date.now()
    database.db.execute(sql`SELECT pg_notify(${ENTITLEMENT_CHANNEL}, ${heartbeatToken})`).catch(() => {
      // The pool cannot reach the database: reads fail anyway; the timeout above decides.
    })
  }

  const localListener = (accountIds: readonly string[]): void => invalidate(accountIds)

  async function fill (accountId: string): Promise<AccountSubscription[]> {
    const pending = fills.get(accountId)
    if (pending !== undefined) return await pending.promise
    const entry: Fill = { promise: findAccountSubscriptions(database, accountId), current: true }
    fills.set(accountId, entry)
    try {
      const subscriptions = await entry.promise
      // Invalidated (or the connection lost) while reading: answer, but do not keep.
      if (entry.current && listening) {
        entries.set(accountId, subscriptions)
        if (entries.size > maxEntries) {
          const oldest = entries.keys().next()
          if (oldest.done !== true) entries.delete(oldest.value)
        }
      }
      return subscriptions
    } finally {
      if (fills.get(accountId) === entry) fills.delete(accountId)
    }
  }

  return {
    async subscriptionsOf (accountId) {
      if (!listening || maxEntries === 0) {
        counters.bypassed += 1
        return await findAccountSubscriptions(database, accountId)
      }
      const cached = entries.get(accountId)
      if (cached !== undefined) {
        counters.hits += 1
        entries.delete(accountId)
        entries.set(accountId, cached)
        return cached
      }
      counters.misses += 1
      return await fill(accountId)
    },
    invalidate,
    async start () {
      if (maxEntries === 0 || unlisten !== undefined) return
      let set = localListeners.get(database)
      if (set === undefined) {
        set = new Set()
        localListeners.set(database, set)
      }
      set.add(localListener)
      unlisten = await database.listen(ENTITLEMENT_CHANNEL, onNotify, () => {
        heartbeatToken = null
        lost('LISTEN connection lost')
      })
      heartbeatTimer = setInterval(beat, heartbeatIntervalMs)
      heartbeatTimer.unref()
    },
    async stop () {
      clearInterval(heartbeatTimer)
      localListeners.get(database)?.delete(localListener)
      listening = false
      dropAll()
      const stopListening = unlisten
      unlisten = undefined
      await stopListening?.()
    },
    stats: () => ({ ...counters, entries: entries.size, listening }),
  }
}
