/** Pure helpers for the benchmarks: percentiles, rates, rounding and markdown tables. */

/** The q-quantile (0..1) of `xs` by linear interpolation between order statistics; NaN when empty. */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const pos = Math.min(Math.max(q, 0), 1) * (s.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo);
}

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  max: number;
}

export function summarize(xs: readonly number[]): LatencySummary {
  return { n: xs.length, p50: quantile(xs, 0.5), p95: quantile(xs, 0.95), mean: mean(xs), max: xs.length ? Math.max(...xs) : NaN };
}

/** Rounds to `digits` significant decimals for reports; keeps NaN/null visible as null. */
export function round(x: number | null | undefined, digits = 1): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** A cell for a markdown table: numbers rounded, missing values as an em dash. */
export function cell(x: unknown, digits = 1): string {
  if (x === null || x === undefined || (typeof x === 'number' && !Number.isFinite(x))) return '—';
  if (typeof x === 'number') return String(round(x, digits));
  return String(x).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

/** A GitHub-flavoured markdown table; numeric-looking columns are right-aligned. */
export function markdownTable(header: readonly string[], rows: ReadonlyArray<readonly string[]>): string {
  const numeric = header.map((_, i) => rows.length > 0 && rows.every((r) => /^(—|-?[\d.,]+(\s?[%×x])?)$/.test(r[i] ?? '')));
  const lines = [`| ${header.join(' | ')} |`, `|${header.map((_, i) => (numeric[i] ? '---:' : '---')).join('|')}|`];
  for (const r of rows) lines.push(`| ${header.map((_, i) => r[i] ?? '').join(' | ')} |`);
  return lines.join('\n');
}

/** Least-squares slope of y over x (e.g. RSS bytes per frame); 0 with fewer than two points. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = Math.min(xs.length, ys.length);
  if (n < 2) return 0;
  const mx = mean(xs.slice(0, n));
  const my = mean(ys.slice(0, n));
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** detection.max_frame_width for the pipeline bench's 1920x1080 'hd' scene. */
export const HD_MAX_WIDTH = 960;

/** The camera rate of the pipeline bench's 'paced' scenes (frames/s): a typical home camera setting. */
export const PACED_FPS = 15;
