/**
 * A frame handed out before it is decoded: the motion gate looks at a small, cheap preview, and the full decode runs
 * only when the detector will. An empty, still room (most of a home camera's day) then never pays for full-size
 * pixels. Each decode runs at most once; a failed one fails the same way when asked again.
 */
import { systemClock, type Clock } from '../core/clock.js';
import type { EncodedFrame, Frame } from '../core/types.js';
import { decodeFrame, decodePreview } from './decode.js';

export interface StagedFrame {
  readonly cameraId: string;
  readonly seq: number;
  readonly monoMs: number;
  readonly wallMs: number;
  /** The frame at exactly width x height, as cheaply as the encoding allows. */
  preview(width: number, height: number): Promise<Frame>;
  /** The frame as the detector sees it (downscaled to the camera's max width). */
  full(): Promise<Frame>;
  /** Milliseconds spent decoding this frame so far (preview and full together). */
  decodeMs(): number;
  /** Whether a decode of this frame failed (and was reported through StageOptions.onError). */
  readonly decodeFailed: boolean;
  /** Whether the full-size frame has been asked for (for a raw frame, the preview is it); the bench counts these. */
  readonly fullDecoded: boolean;
}

export interface StageOptions {
  /** Full decodes wider than this are downscaled (keeps aspect). */
  maxWidth?: number;
  clock?: Clock;
  /** Told when a decode of the frame first fails (the feed counts corrupt frames with it): once per frame. */
  onError?: (err: unknown) => void;
  /** Told the frame's decode time so far after each decode that succeeds. */
  onDecoded?: (totalMs: number) => void;
}

/** Memoizes one decode and adds its time to the frame's total. */
class Timed<T> {
  private p: Promise<T> | undefined;
  constructor(private readonly add: (ms: number, ok: boolean) => void, private readonly o: StageOptions) {}
  get started(): boolean {
    return this.p !== undefined;
  }
  run(fn: () => Promise<T>): Promise<T> {
    this.p ??= (async () => {
      const clock = this.o.clock ?? systemClock;
      const t0 = clock.mono();
      let ok = false;
      try {
        const v = await fn();
        ok = true;
        return v;
      } catch (err) {
        this.o.onError?.(err);
        throw err;
      } finally {
        this.add(clock.mono() - t0, ok);
      }
    })();
    return this.p;
  }
}

/** The options with onError called for the first failure only (a frame whose preview failed fails in full too). */
function reportingOnce(o: StageOptions): StageOptions {
  const { onError } = o;
  if (!onError) return o;
  let told = false;
  return {
    ...o,
    onError: (err) => {
      if (!told) onError(err);
      told = true;
    },
  };
}

/** A frame's decode time and failure, over all its decodes. */
class Tally {
  ms = 0;
  failed = false;
  constructor(private readonly onDecoded?: (totalMs: number) => void) {}
  readonly add = (d: number, ok: boolean): void => {
    this.ms += d;
    if (ok) this.onDecoded?.(this.ms);
    else this.failed = true;
  };
}

/** An encoded frame (JPEG/PNG/...): the preview is a shrink-on-load decode, the full one a decode at maxWidth. */
export function stageEncoded(cameraId: string, enc: EncodedFrame, opts: StageOptions = {}): StagedFrame {
  const o = reportingOnce(opts);
  const tally = new Tally(o.onDecoded);
  const add = tally.add;
  const full = new Timed<Frame>(add, o);
  const previews = new Map<string, Timed<Frame>>();
  return {
    cameraId,
    seq: enc.seq,
    monoMs: enc.monoMs,
    wallMs: enc.wallMs,
    preview(width, height) {
      const key = `${width}x${height}`;
      let p = previews.get(key);
      if (!p) previews.set(key, (p = new Timed<Frame>(add, o)));
      return p.run(() => decodePreview(cameraId, enc, width, height));
    },
    full: () => full.run(() => decodeFrame(cameraId, enc, o.maxWidth)),
    decodeMs: () => tally.ms,
    get decodeFailed() {
      return tally.failed;
    },
    get fullDecoded() {
      return full.started;
    },
  };
}

/**
 * A frame that is already pixels (a raw source, or one decoded by other means): its preview is the frame itself,
 * which the motion gate samples at any size. `decode` runs once, on the first call of either method.
 */
export function stageDecoded(meta: Pick<Frame, 'cameraId' | 'seq' | 'monoMs' | 'wallMs'>, decode: () => Promise<Frame>, o: Omit<StageOptions, 'maxWidth'> = {}): StagedFrame {
  const tally = new Tally(o.onDecoded);
  const once = new Timed<Frame>(tally.add, o);
  const get = (): Promise<Frame> => once.run(decode);
  return {
    ...meta,
    preview: get,
    full: get,
    decodeMs: () => tally.ms,
    get decodeFailed() {
      return tally.failed;
    },
    get fullDecoded() {
      return once.started;
    },
  };
}
