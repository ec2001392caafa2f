/**
 * Wires the health parts for `fer-agent run`: metrics from the bus, the /healthz + /metrics endpoint (when
 * health.port is not 0), and systemd readiness + a progress-fed watchdog (when started by systemd).
 *
 * Usage in the agent: `const h = await startHealthService({...})` before the cameras start (so no bus message is
 * missed), `await h.ready()` once the model is loaded and the frame loops run, `await h.stop()` on shutdown.
 */
import type { Bus, ModelInfo } from '../core/bus.js';
import { systemClock, type Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import { AgentMetrics } from './agent-metrics.js';
import { frameAgeBoundMs, startHealthServer, type HealthServer } from './http.js';
import { SdNotifier } from './sd-notify.js';
import { ProgressMonitor, startWatchdog, type WatchdogHandle } from './watchdog.js';

export interface HealthServiceOptions {
  bus: Bus;
  cameras: ReadonlyArray<{ id: string; fps: number }>;
  /** mqtt.url is not empty: broker state then counts for /healthz. */
  mqttConfigured: boolean;
  /** health.host / health.port from the config; port 0 turns the endpoint off. */
  health: { host: string; port: number };
  logger: Logger;
  clock?: Clock;
  /** Default: a notifier reading process.env (and removing NOTIFY_SOCKET from it so camera processes cannot use it). */
  notifier?: SdNotifier;
  /** The model already active when the service starts (the bus only reports later changes). */
  model?: ModelInfo;
  /**
   * Pause state as it stands when the watchdog is armed: a pause restored at start-up (persisted, or retained on the
   * broker) was announced before the watchdog listened, and a paused camera makes no progress by design.
   */
  isPaused?: (cameraId: string) => boolean;
}

export interface HealthService {
  readonly metrics: AgentMetrics;
  readonly server: HealthServer | null;
  readonly notifier: SdNotifier;
  /** Tells systemd the agent is up (READY=1) and starts the watchdog if WatchdogSec is set. */
  ready(status?: string): Promise<void>;
  /** The watchdog timer once ready() armed it (WatchdogSec set), else null. */
  readonly watchdog: WatchdogHandle | null;
  stop(): Promise<void>;
}

export async function startHealthService(opts: HealthServiceOptions): Promise<HealthService> {
  const clock = opts.clock ?? systemClock;
  const log = opts.logger;
  const metrics = new AgentMetrics(opts.bus, { clock, cameraIds: opts.cameras.map((c) => c.id), mqttConfigured: opts.mqttConfigured });
  if (opts.model) metrics.setModel(opts.model);
  const boundsMs = Object.fromEntries(opts.cameras.map((c) => [c.id, frameAgeBoundMs(c.fps)]));
  const server = opts.health.port > 0 ? await startHealthServer({ host: opts.health.host, port: opts.health.port, metrics, boundsMs, logger: log }) : null;
  const notifier = opts.notifier ?? new SdNotifier({ logger: log, unsetEnvironment: true });
  let watchdog: WatchdogHandle | null = null;
  let detachMonitor: (() => void) | null = null;

  return {
    metrics,
    server,
    notifier,
    get watchdog() {
      return watchdog;
    },
    async ready(status = 'running') {
      const intervalMs = notifier.watchdogMs;
      if (intervalMs !== null && !watchdog) {
        // A camera slower than the watchdog interval still gets three frame times before it counts as stalled.
        const slowestFrameMs = Math.max(0, ...opts.cameras.map((c) => (c.fps > 0 ? 1000 / c.fps : 0)));
        const monitor = new ProgressMonitor(clock, Math.max(intervalMs, 3 * slowestFrameMs), opts.cameras.map((c) => c.id));
        for (const c of opts.cameras) if (opts.isPaused?.(c.id)) monitor.setPaused(c.id, true);
        detachMonitor = monitor.attach(opts.bus);
        watchdog = startWatchdog({ monitor, notifier, intervalMs, logger: log });
        log.info({ watchdog_s: intervalMs / 1000, stall_s: monitor.stallMs / 1000 }, 'systemd watchdog armed');
      }
      await notifier.ready(status);
    },
    async stop() {
      await notifier.stopping('stopping');
      watchdog?.stop();
      detachMonitor?.();
      metrics.dispose();
      await server?.stop();
    },
  };
}
