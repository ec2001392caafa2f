/**
 * Frames per second and latency of one camera, computed from the results it published. Pure: times come in as
 * parameters (the results' monotonic capture times), so a stalled camera reads 0 fps instead of its last rate.
 */

export interface RateSnapshot {
  /** Processed frames per second over the window; 0 when the camera has been quiet for a whole window. */
  fps: number;
  /** Mean capture-to-result latency over the window (ms); null before the first result. */
  latencyMs: number | null;
  /** Of that: the mean time a frame waited before work on it began, and the mean work (decode to result). */
  frameAgeMs: number | null;
  processMs: number | null;
  detectMs: number | null;
  classifyMs: number | null;
  /** Results in the window. */
  samples: number;
}

type Timings = { totalMs: number; waitMs: number; processMs: number; detectMs: number; classifyMs: number };

interface Sample extends Timings {
  monoMs: number;
}

export class RateMeter {
  private readonly samples: Sample[] = [];

  /** `windowMs`: how far back the averages look; `maxSamples` bounds memory at high frame rates. */
  constructor(
    private readonly windowMs = 5000,
    private readonly maxSamples = 300,
  ) {}

  add(monoMs: number, timings: Timings): void {
    const { totalMs, waitMs, processMs, detectMs, classifyMs } = timings;
    this.samples.push({ monoMs, totalMs, waitMs, processMs, detectMs, classifyMs });
    if (this.samples.length > this.maxSamples) this.samples.shift();
  }

  snapshot(nowMono: number): RateSnapshot {
    while (this.samples.length > 0 && nowMono - this.samples[0].monoMs > this.windowMs) this.samples.shift();
    const s = this.samples;
    const n = s.length;
    if (n === 0) return { fps: 0, latencyMs: null, frameAgeMs: null, processMs: null, detectMs: null, classifyMs: null, samples: 0 };
    // n frames span n-1 intervals. When the newest frame is overdue (more than two usual intervals ago) the span
    // runs up to now, so a camera that stalls decays towards 0 fps instead of showing its old rate.
    let span = s[n - 1].monoMs - s[0].monoMs;
    if (n >= 2 && nowMono - s[n - 1].monoMs > (2 * span) / (n - 1)) span = nowMono - s[0].monoMs;
    const fps = n >= 2 && span > 0 ? ((n - 1) * 1000) / span : 0;
    const mean = (k: keyof Timings): number => s.reduce((a, x) => a + x[k], 0) / n;
    return { fps, latencyMs: mean('totalMs'), frameAgeMs: mean('waitMs'), processMs: mean('processMs'), detectMs: mean('detectMs'), classifyMs: mean('classifyMs'), samples: n };
  }
}
