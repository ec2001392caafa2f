/**
 * Runs one camera's source for the life of the agent and hands the consumer the newest frame.
 *
 * - A source that fails (its iteration throws) is reopened with exponential backoff; the attempt count resets once
 *   a connection has been healthy for a while. A source that ends normally (a non-looping file or dir) is done.
 * - Frames land in a one-slot buffer: a frame not taken before the next arrives is dropped and counted. There is no
 *   queue, so a slow consumer always gets the newest frame and memory does not grow. Pull sources (stored images)
 *   instead wait for the slot to empty, so none of their frames is dropped.
 * - Only frames that are handed out are decoded. Corrupt ones are skipped and counted.
 * - `next()` returns at most `fps` frames per second.
 */
import { backoffMs } from '../core/backoff.js';
import type { SourceStatus } from '../core/bus.js';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { Frame } from '../core/types.js';
import { linkSignals } from './abort.js';
import { decodeFrame, downscaleRaw } from './decode.js';
import { stageDecoded, stageEncoded, type StageOptions, type StagedFrame } from './staged-frame.js';
import { sleep as realSleep, type SleepFn } from './sleep.js';
import type { FrameSource, SourceFrame } from './frame-source.js';

export type FeedState = SourceStatus['state'];

export interface BackoffOptions {
  /** First retry delay. */
  baseMs: number;
  /** Longest retry delay. */
  capMs: number;
  /** A connection that delivered frames this long counts as healthy: the next failure starts again at baseMs. */
  healthyMs: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 500, capMs: 30_000, healthyMs: 10_000 };

export interface FeedStats {
  state: FeedState;
  lastError?: string;
  /** Frames the source delivered. */
  received: number;
  /** Frames replaced by a newer one before the consumer took them. */
  dropped: number;
  /** Frames taken but undecodable (skipped). */
  corrupt: number;
  /** Frames the source itself threw away (broken framing, over the size cap). */
  discarded: number;
  /** Frames returned by next(). */
  handedOut: number;
  /** Times the source was reopened after a failure. */
  reconnects: number;
  /** How long decoding (and downscaling) the last handed-out frame took, ms. */
  lastDecodeMs?: number;
}

export interface CameraFeedOptions {
  cameraId: string;
  source: FrameSource;
  /** Most frames per second next() hands out. */
  fps: number;
  log: Logger;
  clock?: Clock;
  /** Decoded frames wider than this are downscaled (keeps aspect). */
  maxWidth?: number;
  backoff?: Partial<BackoffOptions>;
  /** Injectable for tests; must resolve early when the signal aborts. */
  sleep?: SleepFn;
  /** Called on every state change (e.g. to publish on the bus as `source`). */
  onStatus?: (status: SourceStatus) => void;
  /** At most one warning about corrupt frames per this period (each one is logged at debug). */
  corruptWarnIntervalMs?: number;
  /** How long stop() waits for the source to end (default 5000). */
  stopTimeoutMs?: number;
  /** Warn (once per silence) when a running or connecting source gives no frame for this long (default 20000). */
  silenceWarnMs?: number;
  /** How often the feed checks for silence and reports new drop/corrupt/discard counts (default 2000). */
  watchIntervalMs?: number;
}

export class CameraFeed {
  readonly cameraId: string;
  private readonly source: FrameSource;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly sleep: SleepFn;
  private readonly backoff: BackoffOptions;
  private readonly minIntervalMs: number;
  private readonly ctrl = new AbortController();
  private pump: Promise<void> | undefined;

  /** The newest frame not yet handed out. */
  private slot: SourceFrame | undefined;
  private nextSeq = 0;
  private lastHandOutMono = Number.NEGATIVE_INFINITY;
  private waiters = new Set<() => void>();
  /** The source finished (finite) or the feed was stopped: no more frames will come. */
  private done = false;
  private lastCorruptWarnMono = Number.NEGATIVE_INFINITY;
  private corruptSinceWarn = 0;
  private lastReported: FeedState | undefined;
  private watchTimer: NodeJS.Timeout | undefined;
  private lastFrameMono: number;
  private silent = false;
  private reportedTotals = 0;

  private s: Omit<FeedStats, 'discarded'> = { state: 'connecting', received: 0, dropped: 0, corrupt: 0, handedOut: 0, reconnects: 0 };

  /** A consumer is waiting for a frame and the fps gap has passed (pull sources read only then). */
  private wanted = false;

  constructor(private readonly opts: CameraFeedOptions) {
    if (!(opts.fps > 0)) throw new FerError('config_invalid', `camera ${opts.cameraId}: fps must be > 0, got ${opts.fps}`);
    this.cameraId = opts.cameraId;
    this.source = opts.source;
    this.log = opts.log.child({ camera: opts.cameraId });
    this.clock = opts.clock ?? systemClock;
    this.sleep = opts.sleep ?? realSleep;
    this.backoff = { ...DEFAULT_BACKOFF, ...opts.backoff };
    this.minIntervalMs = 1000 / opts.fps;
    this.lastFrameMono = this.clock.mono();
  }

  /** Starts reading the source (next() also starts it). */
  start(): this {
    if (!this.watchTimer && !this.pump) {
      this.lastFrameMono = this.clock.mono();
      this.watchTimer = setInterval(() => this.watch(), this.opts.watchIntervalMs ?? 2000);
      this.watchTimer.unref();
    }
    this.pump ??= this.run().catch((err: unknown) => {
      // Only a broken injected sleep or clock gets here; the feed cannot go on.
      this.done = true;
      this.setState('failed', errorMessage(err));
      this.wake();
      this.log.error({ err: errorMessage(err) }, 'camera feed crashed');
    });
    return this;
  }

  /** Stops the source and wakes any waiting next() with null. */
  async stop(): Promise<void> {
    this.done = true;
    clearInterval(this.watchTimer);
    this.ctrl.abort();
    this.wake();
    // Sources end on abort; one that does not must not hang the agent's shutdown.
    const timeoutMs = this.opts.stopTimeoutMs ?? 5000;
    let timer: NodeJS.Timeout | undefined;
    const late = await Promise.race([
      this.pump?.then(() => false),
      new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), timeoutMs))),
    ]);
    clearTimeout(timer);
    if (late) this.log.warn({ source: this.source.description, timeoutMs }, 'source did not stop in time; leaving it');
    this.slot = undefined;
    this.setState('stopped');
  }

  stats(): FeedStats {
    return { ...this.s, discarded: this.source.discarded ?? 0 };
  }

  /**
   * The newest frame, decoded; waits for a new one if the last was already handed out, and never returns sooner
   * than 1000/fps ms after the previous one. Null once the feed is stopped, the source has ended, or `signal` aborts.
   */
  async next(signal?: AbortSignal): Promise<Frame | null> {
    this.start();
    const linked = signal ? linkSignals(signal, this.ctrl.signal) : undefined;
    try {
      return await this.nextFrame(linked?.signal ?? this.ctrl.signal);
    } finally {
      linked?.dispose();
    }
  }

  /**
   * Like next(), but hands the frame out undecoded: the caller decodes a preview, the full frame, or both (see
   * StagedFrame). A decode that fails is counted as a corrupt frame, as in next(), and rejects for the caller to skip.
   */
  async nextStaged(signal?: AbortSignal): Promise<StagedFrame | null> {
    this.start();
    const linked = signal ? linkSignals(signal, this.ctrl.signal) : undefined;
    try {
      const sf = await this.take(linked?.signal ?? this.ctrl.signal);
      if (!sf) return null;
      this.lastHandOutMono = this.clock.mono();
      this.s.handedOut++;
      const o: StageOptions = {
        clock: this.clock,
        onError: (err) => this.onCorrupt(sf, err),
        onDecoded: (ms) => (this.s.lastDecodeMs = ms),
      };
      if (sf.kind === 'encoded') return stageEncoded(this.cameraId, sf.frame, { ...o, maxWidth: this.opts.maxWidth });
      return stageDecoded({ ...sf.frame, cameraId: this.cameraId }, () => this.decode(sf), o);
    } finally {
      linked?.dispose();
    }
  }

  private async nextFrame(stopSignal: AbortSignal): Promise<Frame | null> {
    for (;;) {
      const sf = await this.take(stopSignal);
      if (!sf) return null;
      let frame: Frame;
      const t0 = this.clock.mono();
      try {
        frame = await this.decode(sf);
        this.s.lastDecodeMs = this.clock.mono() - t0;
      } catch (err) {
        this.onCorrupt(sf, err);
        continue;
      }
      if (stopSignal.aborted) return null;
      this.lastHandOutMono = this.clock.mono();
      this.s.handedOut++;
      return frame;
    }
  }

  /** Waits for the fps gap and a frame in the slot, and takes it; null once stopped or ended. */
  private async take(stopSignal: AbortSignal): Promise<SourceFrame | null> {
    for (;;) {
      if (stopSignal.aborted) return null;
      const gap = this.lastHandOutMono + this.minIntervalMs - this.clock.mono();
      if (gap > 0) {
        await this.sleep(gap, stopSignal);
        continue;
      }
      const sf = this.slot;
      if (!sf) {
        if (this.done) return null;
        // A pull source reads its next image now, when it is wanted (see demanded()).
        this.wanted = true;
        this.wake();
        await this.waitForChange(stopSignal);
        continue;
      }
      this.wanted = false;
      this.slot = undefined;
      this.wake(); // a pull source waits for the slot to empty
      return sf;
    }
  }

  private async decode(sf: SourceFrame): Promise<Frame> {
    const { maxWidth } = this.opts;
    if (sf.kind === 'encoded') return decodeFrame(this.cameraId, sf.frame, maxWidth);
    const f = sf.frame;
    if (f.data.length !== f.width * f.height * f.channels) {
      throw new FerError('frame_corrupt', `camera ${this.cameraId} frame ${f.seq}: ${f.data.length} bytes for ${f.width}x${f.height}x${f.channels}`);
    }
    try {
      return maxWidth && f.width > maxWidth ? await downscaleRaw(f, maxWidth) : f;
    } catch (err) {
      throw new FerError('frame_corrupt', `camera ${this.cameraId} frame ${f.seq} cannot be scaled: ${errorMessage(err)}`, { cause: err });
    }
  }

  private onCorrupt(sf: SourceFrame, err: unknown): void {
    this.s.corrupt++;
    this.corruptSinceWarn++;
    const msg = errorMessage(err);
    this.log.debug({ seq: sf.frame.seq, err: msg }, 'corrupt frame skipped');
    const now = this.clock.mono();
    const every = this.opts.corruptWarnIntervalMs ?? 60_000;
    if (now - this.lastCorruptWarnMono >= every) {
      this.log.warn({ skipped: this.corruptSinceWarn, total: this.s.corrupt, last: msg }, 'corrupt frames skipped');
      this.lastCorruptWarnMono = now;
      this.corruptSinceWarn = 0;
    }
  }

  /**
   * Runs every watchIntervalMs: a source that sends nothing usable (an MJPEG part that never ends, only oversized or
   * broken frames) is warned about once, with what it discarded; drop/corrupt counts reach the metrics as they grow,
   * not only on the next state change.
   */
  private watch(): void {
    if (this.done) return;
    const st = this.stats();
    const totals = st.dropped + st.corrupt + st.discarded;
    // Not while failed: a 'failed' status is published as an error message, and counts do not grow then anyway.
    if (totals !== this.reportedTotals && st.state !== 'failed') {
      this.reportedTotals = totals;
      this.report(st.state);
    }
    const quietMs = this.clock.mono() - this.lastFrameMono;
    const limit = this.opts.silenceWarnMs ?? 20_000;
    if (!this.silent && quietMs >= limit && (st.state === 'running' || st.state === 'connecting')) {
      this.silent = true;
      this.log.warn({ source: this.source.description, seconds: Math.round(quietMs / 1000), state: st.state, discarded: st.discarded, corrupt: st.corrupt, lastError: st.lastError }, 'no frame from the source for a while');
    }
  }

  private accept(sf: SourceFrame): void {
    this.lastFrameMono = this.clock.mono();
    if (this.silent) {
      this.silent = false;
      this.log.info({ source: this.source.description }, 'frames are coming again');
    }
    this.s.received++;
    if (this.slot) this.s.dropped++;
    const seq = this.nextSeq++;
    // Renumbered per camera so seq keeps increasing across reconnects (each connection starts at 0).
    this.slot = sf.kind === 'encoded' ? { kind: 'encoded', frame: { ...sf.frame, seq } } : { kind: 'raw', frame: { ...sf.frame, cameraId: this.cameraId, seq } };
    this.wake();
  }

  /** Resolves once a consumer waits for a frame and the fps gap has passed: then a pull source reads the next one. */
  private async demanded(signal: AbortSignal): Promise<void> {
    while (!this.wanted && !signal.aborted) await this.waitForChange(signal);
  }

  private wake(): void {
    const ws = [...this.waiters];
    this.waiters.clear();
    for (const w of ws) w();
  }

  /** Resolves on the next wake() (a frame arrived or was taken, the feed stopped) or when the signal aborts. */
  private waitForChange(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  private setState(state: FeedState, reason?: string): void {
    const changed = this.lastReported !== state || reason !== undefined;
    this.lastReported = state;
    this.s.state = state;
    if (reason !== undefined) this.s.lastError = reason;
    if (!changed) return;
    this.report(state, reason);
  }

  private report(state: FeedState, reason?: string): void {
    if (!this.opts.onStatus) return;
    const st = this.stats();
    try {
      this.opts.onStatus({ cameraId: this.cameraId, state, reason: state === 'running' ? undefined : (reason ?? st.lastError), framesDropped: st.dropped, framesCorrupt: st.corrupt + st.discarded });
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'status listener failed');
    }
  }

  private async run(): Promise<void> {
    const signal = this.ctrl.signal;
    const { baseMs, capMs, healthyMs } = this.backoff;
    let attempt = 0;
    this.log.info({ source: this.source.description }, 'opening source');
    while (!signal.aborted) {
      this.setState('connecting');
      let runningSince: number | undefined;
      try {
        const demand = this.source.pull ? () => this.demanded(signal) : undefined;
        for await (const sf of this.source.open(signal, demand)) {
          if (signal.aborted) break;
          if (runningSince === undefined) {
            runningSince = this.clock.mono();
            this.setState('running');
            if (this.s.reconnects > 0) this.log.info({ reconnects: this.s.reconnects }, 'source is back');
          }
          this.accept(sf);
          while (this.source.pull && this.slot && !signal.aborted) await this.waitForChange(signal);
        }
        if (signal.aborted) break;
        this.log.info({ source: this.source.description, frames: this.s.received }, 'source ended');
        this.done = true;
        this.setState('stopped', 'source ended');
        this.wake();
        return;
      } catch (err) {
        if (signal.aborted) break;
        if (runningSince !== undefined && this.clock.mono() - runningSince >= healthyMs) attempt = 0;
        const delay = backoffMs(attempt++, { baseMs, capMs, jitter: 0 });
        const msg = errorMessage(err);
        this.setState('failed', msg);
        this.log.warn({ source: this.source.description, err: msg, retryInMs: Math.round(delay), attempt }, 'source failed; reconnecting');
        await this.sleep(delay, signal);
        if (!signal.aborted) this.s.reconnects++;
      }
    }
  }
}
