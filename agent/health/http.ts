/**
 * /healthz and /metrics over plain HTTP on health.host:health.port (loopback by default: Prometheus on the same
 * box, or a reverse proxy, reaches it; nothing is exposed to the LAN unless the config says so).
 *
 * /healthz is 200 with a JSON report while the pipeline is alive: every active camera delivered a frame within
 * its bound, and the broker is connected when MQTT is configured. Otherwise 503 with the reasons.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { AgentMetrics, CameraHealthState } from './agent-metrics.js';
import { PROMETHEUS_CONTENT_TYPE } from './metrics.js';

/** The shortest frame-age bound: a slow camera or a busy Pi must not flap /healthz. */
export const MIN_FRAME_AGE_BOUND_MS = 15_000;

/** How old the last frame of a camera running at `fps` may be before it counts as stalled: 10 frame times, at least 15 s. */
export function frameAgeBoundMs(fps: number): number {
  const frameMs = fps > 0 ? 1000 / fps : Infinity;
  return Math.max(MIN_FRAME_AGE_BOUND_MS, Math.min(10 * frameMs, 24 * 3600_000));
}

export interface HealthInput {
  nowMono: number;
  /** When the agent started (monotonic ms): cameras without a frame yet are measured from here. */
  startedMono: number;
  cameras: CameraHealthState[];
  /** Per camera id; cameras missing here use MIN_FRAME_AGE_BOUND_MS. */
  boundsMs: Readonly<Record<string, number>>;
  mqtt: { configured: boolean; connected: boolean };
}

export interface CameraReport {
  state: string;
  paused: boolean;
  /** Seconds since the last processed frame; null before the first. */
  last_frame_age_s: number | null;
  max_frame_age_s: number;
  ok: boolean;
}

export interface HealthReport {
  status: 'ok' | 'unhealthy';
  reasons: string[];
  cameras: Record<string, CameraReport>;
  mqtt: { configured: boolean; connected: boolean | null };
}

const round = (ms: number): number => Math.round(ms / 100) / 10;

/** Pure: decides health from the agent's state. */
export function evaluateHealth(input: HealthInput): HealthReport {
  const reasons: string[] = [];
  const cameras: Record<string, CameraReport> = {};
  if (input.cameras.length === 0) reasons.push('no camera is configured');
  for (const c of input.cameras) {
    const bound = input.boundsMs[c.cameraId] ?? MIN_FRAME_AGE_BOUND_MS;
    const age = c.lastFrameMono === null ? null : input.nowMono - c.lastFrameMono;
    const sinceStart = input.nowMono - input.startedMono;
    let ok = true;
    if (!c.paused && c.state !== 'stopped') {
      if (age === null && sinceStart > bound) {
        ok = false;
        reasons.push(`camera ${c.cameraId} has delivered no frame in ${round(sinceStart)} s since start (state ${c.state}${c.reason ? `: ${c.reason}` : ''})`);
      } else if (age !== null && age > bound) {
        ok = false;
        reasons.push(`camera ${c.cameraId} last frame is ${round(age)} s old, more than ${round(bound)} s (state ${c.state}${c.reason ? `: ${c.reason}` : ''})`);
      }
    }
    cameras[c.cameraId] = { state: c.state, paused: c.paused, last_frame_age_s: age === null ? null : round(age), max_frame_age_s: round(bound), ok };
  }
  if (input.mqtt.configured && !input.mqtt.connected) reasons.push('MQTT broker is not connected');
  return {
    status: reasons.length === 0 ? 'ok' : 'unhealthy',
    reasons,
    cameras,
    mqtt: { configured: input.mqtt.configured, connected: input.mqtt.configured ? input.mqtt.connected : null },
  };
}

export interface HealthServerOptions {
  host: string;
  /** 0 picks a free port (tests); the config's 0 means "off" and must be handled by the caller. */
  port: number;
  metrics: AgentMetrics;
  /** Frame-age bound per camera id (see frameAgeBoundMs). */
  boundsMs: Readonly<Record<string, number>>;
  logger?: Logger;
}

export interface HealthServer {
  readonly host: string;
  readonly port: number;
  report(): HealthReport;
  stop(): Promise<void>;
}

/** Builds the health report from live metrics state. */
export function healthReport(metrics: AgentMetrics, boundsMs: Readonly<Record<string, number>>): HealthReport {
  return evaluateHealth({
    nowMono: metrics.clock.mono(),
    startedMono: metrics.startedMono,
    cameras: metrics.cameras(),
    boundsMs,
    mqtt: { configured: metrics.mqttConfigured, connected: metrics.isBrokerConnected() },
  });
}

export async function startHealthServer(opts: HealthServerOptions): Promise<HealthServer> {
  const report = (): HealthReport => healthReport(opts.metrics, opts.boundsMs);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (code: number, type: string, body: string): void => {
      res.writeHead(code, { 'content-type': type, 'cache-control': 'no-store', 'content-length': Buffer.byteLength(body) });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      return send(405, 'text/plain; charset=utf-8', 'method not allowed\n');
    }
    try {
      if (url.pathname === '/healthz') {
        const r = report();
        return send(r.status === 'ok' ? 200 : 503, 'application/json; charset=utf-8', JSON.stringify(r) + '\n');
      }
      if (url.pathname === '/metrics') return send(200, PROMETHEUS_CONTENT_TYPE, opts.metrics.render());
      return send(404, 'text/plain; charset=utf-8', 'not found: try /healthz or /metrics\n');
    } catch (err) {
      opts.logger?.error({ err: errorMessage(err), path: url.pathname }, 'health endpoint failed');
      return send(500, 'text/plain; charset=utf-8', 'internal error\n');
    }
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void =>
      reject(new FerError('io_failed', `health endpoint cannot listen on ${opts.host}:${opts.port} (health.host/health.port): ${errorMessage(err)}`));
    server.once('error', onError);
    server.listen(opts.port, opts.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  opts.logger?.info({ host: addr.address, port: addr.port }, 'health endpoint listening (/healthz, /metrics)');
  return {
    host: addr.address,
    port: addr.port,
    report,
    stop: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
