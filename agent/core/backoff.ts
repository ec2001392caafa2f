/** The one retry delay: exponential from `baseMs`, capped at `capMs`, with up to `jitter` (a fraction) taken off. */
export interface BackoffOptions {
  baseMs?: number;
  capMs?: number;
  /** 0.2: the delay is 80-100 % of the nominal one, so many clients do not retry in step. */
  jitter?: number;
}

/** Delay before retry number `attempt` (0-based): base, 2·base, 4·base, ... up to the cap (defaults 1 s → 30 s, 20 % jitter). */
export function backoffMs(attempt: number, opts: BackoffOptions = {}, random: () => number = Math.random): number {
  const { baseMs = 1000, capMs = 30_000, jitter = 0.2 } = opts;
  const d = Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
  return Math.round(d * (1 - jitter + jitter * random()));
}
