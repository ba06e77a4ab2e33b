/**
 * Exponential backoff with jitter: `first` on the first attempt, doubled on each attempt after it,
 * capped at `max`; the delay is drawn from the upper half of that, so that callers retrying at the
 * same moment spread out.
 */
export function backoffWithJitter (attempt: number, policy: { first: number, max?: number }, random: () => number = Math.random): number {
  const base = Math.min(policy.max ?? Number.POSITIVE_INFINITY, policy.first * 2 ** (attempt - 1))
  return base / 2 + random() * base / 2
}
