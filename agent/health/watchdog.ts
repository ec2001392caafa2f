/**
 * The systemd watchdog, fed only by real progress: it pings WATCHDOG=1 while every active camera's frame loop
 * has made progress within the stall bound (by default the watchdog interval itself). When one loop hangs
 * (a wedged camera driver, a stuck inference call, a deadlocked decoder), the pings stop and systemd kills and
 * restarts the agent after WatchdogSec. A plain timer that always pings would only prove the event loop turns.
 *
 * Progress is a processed frame (or a status report) from a camera whose source says it is running. A source
 * that is connecting or reconnecting is exempt: its own backoff (up to 30 s between attempts) and timeouts are in
 * charge, and restarting the agent would not bring an unplugged camera back; /healthz reports it instead.
 * Paused and stopped cameras are exempt too. A camera is watched from the start (before its first status) and
 * again from the moment its source reports running. A blocked event loop stops the timer itself, so it stops
 * the pings as well.
 */
import type { Bus, SourceStatus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { FrameResult } from '../core/types.js';

export interface StalledCamera {
  cameraId: string;
  /** How long since its last progress (ms). */
  idleMs: number;
}

export interface ProgressCheck {
  ok: boolean;
  stalled: StalledCamera[];
}

interface CameraProgress {
  lastMono: number;
  paused: boolean;
  /** The source is connecting, reconnecting or stopped: not expected to deliver frames now. */
  sourceIdle: boolean;
}

/** Pure: remembers the last progress per camera and says which cameras have stalled. */
export class ProgressMonitor {
  private readonly cams = new Map<string, CameraProgress>();

  /**
   * @param stallMs a camera with no progress for longer than this has stalled.
   * @param cameraIds cameras expected to make progress; they get a grace period of stallMs from now.
   */
  constructor(
    private readonly clock: Clock,
    readonly stallMs: number,
    cameraIds: readonly string[] = [],
  ) {
    if (!(stallMs > 0)) throw new Error(`watchdog stall bound ${stallMs} ms is invalid: expected a positive number`);
    for (const id of cameraIds) this.progress(id);
  }

  progress(cameraId: string): void {
    const c = this.cams.get(cameraId);
    if (c) c.lastMono = this.clock.mono();
    else this.cams.set(cameraId, { lastMono: this.clock.mono(), paused: false, sourceIdle: false });
  }

  /** Paused cameras are exempt; resuming restarts their clock so they get a full interval to deliver a frame. */
  setPaused(cameraId: string, paused: boolean): void {
    this.progress(cameraId);
    this.cams.get(cameraId)!.paused = paused;
  }

  /** Called with every source status: only a running source is expected to deliver; its clock restarts now. */
  sourceStatus(cameraId: string, state: SourceStatus['state']): void {
    this.progress(cameraId);
    this.cams.get(cameraId)!.sourceIdle = state !== 'running';
  }

  check(): ProgressCheck {
    const now = this.clock.mono();
    const stalled: StalledCamera[] = [];
    for (const [cameraId, c] of this.cams) {
      if (c.paused || c.sourceIdle) continue;
      const idleMs = now - c.lastMono;
      if (idleMs > this.stallMs) stalled.push({ cameraId, idleMs });
    }
    return { ok: stalled.length === 0, stalled };
  }

  /** Listens to the bus; returns a function that stops listening. */
  attach(bus: Bus): () => void {
    const onResult = (r: FrameResult): void => this.progress(r.cameraId);
    const onSource = (s: SourceStatus): void => this.sourceStatus(s.cameraId, s.state);
    const onPaused = (p: { cameraId: string; paused: boolean }): void => this.setPaused(p.cameraId, p.paused);
    bus.on('result', onResult);
    bus.on('source', onSource);
    bus.on('paused', onPaused);
    return () => {
      bus.off('result', onResult);
      bus.off('source', onSource);
      bus.off('paused', onPaused);
    };
  }
}

/** What the watchdog timer needs from the notifier (SdNotifier, or anything else that can ping). */
export interface WatchdogPinger {
  watchdog(): Promise<boolean>;
  status(text: string): Promise<boolean>;
}

export interface WatchdogOptions {
  monitor: ProgressMonitor;
  notifier: WatchdogPinger;
  /** The systemd watchdog interval (WATCHDOG_USEC in ms); checks and pings run three times per interval. */
  intervalMs: number;
  logger?: Logger;
}

export interface WatchdogHandle {
  /** Runs one check now (the timer calls this); resolves with what it found and whether it pinged. */
  tick(): Promise<ProgressCheck & { pinged: boolean }>;
  /** Checks that found a stalled camera and withheld the ping, so far (tests wait on it instead of sleeping). */
  readonly withheld: number;
  stop(): void;
}

/** Starts the timer. Three checks per interval: one lost or late ping never trips the watchdog on its own. */
export function startWatchdog(opts: WatchdogOptions): WatchdogHandle {
  const { monitor, notifier, logger } = opts;
  let wasStalled = false;
  let withheld = 0;
  const tick = async (): Promise<ProgressCheck & { pinged: boolean }> => {
    const res = monitor.check();
    if (res.ok) {
      if (wasStalled) {
        logger?.info('every camera makes progress again: watchdog pings resume');
        void notifier.status('running');
      }
      wasStalled = false;
      const pinged = await notifier.watchdog();
      return { ...res, pinged };
    }
    if (!wasStalled) {
      const list = res.stalled.map((s) => `${s.cameraId} (${Math.round(s.idleMs / 1000)} s)`).join(', ');
      logger?.error({ stalled: res.stalled }, `camera pipeline stalled: ${list}; withholding watchdog pings so systemd restarts the agent`);
      void notifier.status(`stalled: ${list}`);
    }
    wasStalled = true;
    withheld++;
    return { ...res, pinged: false };
  };
  const timer = setInterval(() => void tick(), Math.max(50, Math.floor(opts.intervalMs / 3)));
  timer.unref();
  return {
    tick,
    get withheld() {
      return withheld;
    },
    stop: () => clearInterval(timer),
  };
}
