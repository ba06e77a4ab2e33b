/**
 * Spaces the worker's claims out while the inbox is caught up, so that a steady stream of webhooks
 * is applied in full batches rather than a few events at a time.
 *
 * A batch pays once for what does not depend on its size (the claim, reading its entities ahead,
 * recording its email events, marking it processed, the commit). Draining a backlog, every claim
 * comes back full. Under a burst the worker keeps up with the intake instead, and each wake-up (one
 * per stored intake statement) let every slot claim the few rows stored since the last claim: in a
 * 10,000-webhook burst the worker made 1,583 claims for 11,000 events, 681 of them empty, and
 * PostgreSQL spent 446 us of CPU per event against 279 us with one slot, whose batches were full.
 *
 * So a claim that came back with room to spare (the runnable rows are used up) makes the next claim,
 * by any slot, wait until `spacingMs` after it; a claim that came back full lets the next one go at
 * once, since there is a backlog. A claim that came back empty means the stream has stopped: the slots
 * waiting for their turn go back to sleep instead of each claiming nothing in turn, and the next
 * claim (the first after a quiet spell) goes at once. An event waits at most `spacingMs` longer than
 * it would have.
 */
export interface ClaimPacer {
  /**
   * Resolves to true when the caller may claim (at once while the last claim came back full), or to
   * false when it should sleep until it is woken again (a claim came back empty meanwhile, or release()).
   */
  turn(): Promise<boolean>
  /** A claim with room for `limit` rows came back with `rows`. */
  claimed(rows: number, limit: number): void
  /** Ends every wait at once (the worker is stopping: its slots must not wait their turns one by one). */
  release(): void
}

export function createClaimPacer (spacingMs: number, now: () => number = Date.now): ClaimPacer {
  let notBefore = 0
  // Slots waiting for their turn; a full claim lets them look again at once.
  const waiting = new Set<() => void>()
  // Turns asked for before the last empty claim or release() are called off.
  let generation = 0
  const wakeWaiting = (): void => {
    for (const done of [...waiting]) done()
  }
  const callOffTurns = (): void => {
    generation += 1
    notBefore = 0
    wakeWaiting()
  }
  const waitUpTo = async (ms: number): Promise<void> => {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer)
        waiting.delete(done)
        resolve()
      }
      const timer = setTimeout(done, ms)
      waiting.add(done)
    })
  }
  return {
    async turn () {
      const asked = generation
      const calledOff = (): boolean => asked !== generation
      for (let wait = notBefore - now(); wait > 0 && !calledOff(); wait = notBefore - now()) await waitUpTo(wait)
      if (calledOff()) return false
      // Until this claim is known to be full, the next one waits its turn.
      if (spacingMs > 0) notBefore = now() + spacingMs
      return true
    },
    claimed (rows, limit) {
      if (rows === 0) {
        callOffTurns()
      } else if (rows >= limit) {
        notBefore = 0
        wakeWaiting()
      }
    },
    release: callOffTurns,
  }
}
