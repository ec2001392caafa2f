/**
 * Times two ways of doing the same work on this machine, side by side (alternating, after a warm-up, so that load
 * from elsewhere hits both alike).
 */

/** Median ms per call of `a` and of `b`, alternating, until each has had about `budgetMs` (at least `minRuns`). */
export async function timeSideBySide(a: () => Promise<unknown>, b: () => Promise<unknown>, budgetMs = 500, minRuns = 5): Promise<[number, number]> {
  await a();
  await b();
  const ta: number[] = [];
  const tb: number[] = [];
  let spentA = 0;
  let spentB = 0;
  while (ta.length < minRuns || spentA < budgetMs || spentB < budgetMs) {
    for (const [run, times] of [[a, ta], [b, tb]] as const) {
      const t0 = performance.now();
      await run();
      times.push(performance.now() - t0);
    }
    spentA += ta[ta.length - 1]!;
    spentB += tb[tb.length - 1]!;
    if (ta.length >= 200) break;
  }
  return [median(ta), median(tb)];
}

function median(xs: number[]): number {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)]!;
}
