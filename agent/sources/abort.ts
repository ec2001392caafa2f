/**
 * One signal that aborts when any of the given ones does, with explicit cleanup. Used instead of AbortSignal.any
 * on per-frame and per-request paths so long-lived signals do not collect listeners or dependents.
 */
export interface LinkedSignal {
  readonly signal: AbortSignal;
  dispose(): void;
}

export function linkSignals(...signals: Array<AbortSignal | undefined>): LinkedSignal {
  const ctrl = new AbortController();
  const live = signals.filter((s): s is AbortSignal => s !== undefined);
  const onAbort = (e: Event): void => ctrl.abort((e.target as AbortSignal).reason);
  for (const s of live) {
    if (s.aborted) {
      ctrl.abort(s.reason);
      break;
    }
    s.addEventListener('abort', onAbort, { once: true });
  }
  return {
    signal: ctrl.signal,
    dispose: () => {
      for (const s of live) s.removeEventListener('abort', onAbort);
    },
  };
}
