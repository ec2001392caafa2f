/**
 * Waiting on a broker without trusting it to answer: over a half-open link (a Wi-Fi drop, a NAT that forgot the
 * connection) an acknowledgement never comes and no error either, and the agent's stop must not wait on it.
 */

/**
 * `p`'s value, or undefined once `ms` have passed (Infinity: no limit) or `signal` has aborted, whichever comes
 * first. A rejection of `p` still rejects; `p` itself is not cancelled.
 */
export async function settleWithin<T>(p: Promise<T>, ms: number, signal?: AbortSignal): Promise<T | undefined> {
  if (signal?.aborted) {
    p.catch(() => undefined);
    return undefined;
  }
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const giveUp = new Promise<undefined>((resolve) => {
    if (Number.isFinite(ms)) timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
    onAbort = () => resolve(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([p, giveUp]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
    p.catch(() => undefined); // a late rejection of what was given up on is not an unhandled one
  }
}
