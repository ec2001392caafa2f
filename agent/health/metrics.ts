/**
 * A small Prometheus registry: counters, gauges and histograms with labels, rendered in the text exposition
 * format 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/). Pure: no I/O, no timers.
 * Small on purpose: the agent needs a few dozen series, not a client library.
 */

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** Latency buckets in seconds, from 1 ms (a classifier call on a desktop) to 10 s (a stalled frame on a Pi Zero). */
export const LATENCY_BUCKETS_S: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

const METRIC_NAME_RE = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME_RE = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

export type Labels<L extends string> = Readonly<Record<L, string>>;

interface MetricOptions<L extends string> {
  name: string;
  help: string;
  labelNames?: readonly L[];
}

interface Family {
  readonly name: string;
  render(): string;
}

/** Formats a sample value the way Prometheus parses it (Go's ParseFloat: +Inf, -Inf, NaN). */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Label values escape backslash, double quote and line feed. */
export function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** HELP text escapes backslash and line feed (quotes stay). */
function escapeHelp(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

function renderLabels(pairs: ReadonlyArray<readonly [string, string]>): string {
  if (pairs.length === 0) return '';
  return '{' + pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',') + '}';
}

abstract class Metric<L extends string> implements Family {
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  protected abstract readonly type: 'counter' | 'gauge' | 'histogram';

  constructor(opts: MetricOptions<L>, reserved: readonly string[] = []) {
    if (!METRIC_NAME_RE.test(opts.name)) throw new Error(`metric name ${JSON.stringify(opts.name)} is invalid: expected [a-zA-Z_:][a-zA-Z0-9_:]*`);
    const labelNames = opts.labelNames ?? [];
    for (const l of labelNames) {
      if (!LABEL_NAME_RE.test(l) || l.startsWith('__') || reserved.includes(l)) {
        throw new Error(`label name ${JSON.stringify(l)} of metric ${opts.name} is invalid`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`metric ${opts.name} repeats a label name`);
    this.name = opts.name;
    this.help = opts.help;
    this.labelNames = labelNames;
  }

  /** A stable key for one label set; also checks that exactly the declared labels are given. */
  protected key(labels: Partial<Labels<L>> | undefined): string {
    const given = labels ?? {};
    const names = Object.keys(given);
    if (names.length !== this.labelNames.length || names.some((n) => !(this.labelNames as readonly string[]).includes(n))) {
      throw new Error(`metric ${this.name} expects labels {${this.labelNames.join(', ')}}, got {${names.join(', ')}}`);
    }
    return JSON.stringify(this.labelNames.map((n) => String((given as Record<string, string>)[n])));
  }

  protected pairs(key: string): Array<[string, string]> {
    const values = JSON.parse(key) as string[];
    return this.labelNames.map((n, i) => [n, values[i]] as [string, string]);
  }

  protected header(): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n`;
  }

  abstract render(): string;
}

/** A value that only goes up (resets only when the process restarts). */
export class Counter<L extends string = never> extends Metric<L> {
  protected readonly type = 'counter';
  private readonly values = new Map<string, number>();

  constructor(opts: MetricOptions<L>) {
    super(opts);
    // A label-less counter exists from the start so rate() sees its first increment.
    if (this.labelNames.length === 0) this.values.set(this.key(undefined), 0);
  }

  inc(labels?: Labels<L>, by = 1): void {
    if (!(by >= 0) || !Number.isFinite(by)) throw new Error(`counter ${this.name} can only increase (got ${by})`);
    const k = this.key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  get(labels?: Labels<L>): number {
    return this.values.get(this.key(labels)) ?? 0;
  }

  render(): string {
    let out = this.header();
    for (const [k, v] of this.values) out += `${this.name}${renderLabels(this.pairs(k))} ${formatValue(v)}\n`;
    return out;
  }
}

/** A value that goes up and down. */
export class Gauge<L extends string = never> extends Metric<L> {
  protected readonly type = 'gauge';
  private readonly values = new Map<string, number>();

  constructor(opts: MetricOptions<L>) {
    super(opts);
    if (this.labelNames.length === 0) this.values.set(this.key(undefined), 0);
  }

  set(labels: Labels<L> | undefined, value: number): void {
    this.values.set(this.key(labels), value);
  }

  inc(labels?: Labels<L>, by = 1): void {
    const k = this.key(labels);
    this.values.set(k, (this.values.get(k) ?? 0) + by);
  }

  get(labels?: Labels<L>): number | undefined {
    return this.values.get(this.key(labels));
  }

  /** Drops one series (e.g. the previous model's info series). */
  remove(labels?: Labels<L>): void {
    this.values.delete(this.key(labels));
  }

  /** Drops every series. */
  clear(): void {
    this.values.clear();
  }

  render(): string {
    let out = this.header();
    for (const [k, v] of this.values) out += `${this.name}${renderLabels(this.pairs(k))} ${formatValue(v)}\n`;
    return out;
  }
}

interface HistogramSeries {
  /** Per-bucket (non-cumulative) counts; the last slot is +Inf. */
  counts: number[];
  sum: number;
  count: number;
}

/** Observations counted into cumulative `le` buckets, with _sum and _count. */
export class Histogram<L extends string = never> extends Metric<L> {
  protected readonly type = 'histogram';
  readonly buckets: readonly number[];
  private readonly series = new Map<string, HistogramSeries>();

  constructor(opts: MetricOptions<L> & { buckets?: readonly number[] }) {
    super(opts, ['le']);
    const b = [...(opts.buckets ?? LATENCY_BUCKETS_S)].filter((x) => x !== Infinity);
    if (b.length === 0 || b.some((x, i) => !Number.isFinite(x) || (i > 0 && x <= b[i - 1]))) {
      throw new Error(`histogram ${opts.name} buckets must be finite and strictly increasing`);
    }
    this.buckets = b;
    if (this.labelNames.length === 0) this.series.set(this.key(undefined), this.empty());
  }

  private empty(): HistogramSeries {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  observe(labels: Labels<L> | undefined, value: number): void {
    if (Number.isNaN(value)) return;
    const k = this.key(labels);
    let s = this.series.get(k);
    if (!s) {
      s = this.empty();
      this.series.set(k, s);
    }
    // Buckets are upper-inclusive: a value equal to a bound counts in that bucket (le = "less or equal").
    let i = this.buckets.findIndex((b) => value <= b);
    if (i < 0) i = this.buckets.length;
    s.counts[i] += 1;
    s.sum += value;
    s.count += 1;
  }

  /** Cumulative counts per bucket bound, +Inf last (for tests and /healthz summaries). */
  cumulative(labels?: Labels<L>): Array<{ le: number; count: number }> {
    const s = this.series.get(this.key(labels)) ?? this.empty();
    let acc = 0;
    return [...this.buckets, Infinity].map((le, i) => ({ le, count: (acc += s.counts[i]) }));
  }

  render(): string {
    let out = this.header();
    for (const [k, s] of this.series) {
      const base = this.pairs(k);
      let acc = 0;
      [...this.buckets, Infinity].forEach((le, i) => {
        acc += s.counts[i];
        out += `${this.name}_bucket${renderLabels([...base, ['le', formatValue(le)]])} ${acc}\n`;
      });
      out += `${this.name}_sum${renderLabels(base)} ${formatValue(s.sum)}\n`;
      out += `${this.name}_count${renderLabels(base)} ${s.count}\n`;
    }
    return out;
  }
}

/** Holds metric families in registration order and renders them; collect hooks refresh computed gauges first. */
export class Registry {
  private readonly families = new Map<string, Family>();
  private readonly hooks: Array<() => void> = [];

  counter<L extends string = never>(opts: MetricOptions<L>): Counter<L> {
    return this.add(new Counter<L>(opts));
  }

  gauge<L extends string = never>(opts: MetricOptions<L>): Gauge<L> {
    return this.add(new Gauge<L>(opts));
  }

  histogram<L extends string = never>(opts: MetricOptions<L> & { buckets?: readonly number[] }): Histogram<L> {
    return this.add(new Histogram<L>(opts));
  }

  /** Runs before every render, e.g. to set "seconds since the last frame" gauges. */
  onCollect(hook: () => void): void {
    this.hooks.push(hook);
  }

  render(): string {
    for (const h of this.hooks) h();
    let out = '';
    for (const f of this.families.values()) out += f.render();
    return out;
  }

  private add<F extends Family>(f: F): F {
    if (this.families.has(f.name)) throw new Error(`metric ${f.name} is registered twice`);
    this.families.set(f.name, f);
    return f;
  }
}
