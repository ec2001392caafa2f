/**
 * The live view: a local web page to aim the camera and watch what the agent sees (frames with face boxes, track
 * ids, per-emotion bars, debounced state, recent events, model, fps/latency, effective config).
 *
 * Plain node:http, no framework. Off unless web.enabled; binds web.host (loopback by default); web.token guards
 * every endpoint. Routes:
 *   /            the page (agent/web/page: index.html, app.js, style.css; plain JS, no build step)
 *   /events      Server-Sent Events: hello, result, event, model, stats
 *   /frame.jpg   ?camera=ID: the newest frame as a small JPEG, encoded on request, at most a few per second
 *   /config      the effective config, secrets masked
 *   /state       what `hello` carries, as one JSON document
 * Frames are pulled rather than pushed: only the camera on screen is encoded, and a slow browser simply asks less.
 */
import { readFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { isIP } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import { maskedConfig } from '../config/load.js';
import type { Bus, ModelInfo, SourceStatus } from '../core/bus.js';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { packageRoot } from '../core/paths.js';
import type { EmotionEvent, FrameResult } from '../core/types.js';
import type { DebouncedState } from '../events/debouncer.js';
import { decideAccess } from './access.js';
import { FrameJpegs } from './frame-jpeg.js';
import { RateMeter } from './rate-meter.js';
import { SseClient } from './sse.js';
import { wireCameraStats, wireEvent, wireModel, wireResult, type WireEvent, type WireHello, type WireModel, type WireResult } from './wire.js';

/** What the live view reads from the running agent (the Agent class has all of it). */
export interface LiveViewHost {
  readonly bus: Bus;
  readonly cfg: AgentConfig;
  /** The active model; may throw before the agent has started. */
  readonly model: ModelInfo;
  readonly pipelines: ReadonlyArray<{ readonly cameraId: string; states(): DebouncedState[]; isPaused(): boolean }>;
}

export interface LiveView {
  url: string;
  host: string;
  port: number;
  stop(): Promise<void>;
}

export interface LiveViewOptions {
  clock?: Clock;
  /** Where index.html, app.js and style.css are (default agent/web/page in the package). */
  pageDir?: string;
  /** How long /frame.jpg waits for a frame when none is fresh (default 3 s). */
  frameWaitMs?: number;
}

export const pageDir = path.join(packageRoot, 'agent', 'web', 'page');
/** Recent events kept for a page that connects later. */
const EVENT_HISTORY = 100;
const STATS_INTERVAL_MS = 1000;
const PING_EVERY_STATS = 15;
/** How long /frame.jpg waits for a frame when none is fresh (camera starting, or no page was watching). */
const FRAME_WAIT_MS = 3000;

/** Host part of a URL for a bind address: wildcard binds are reached by the machine's name. */
function urlHost(bindHost: string): string {
  if (bindHost === '' || bindHost === '0.0.0.0' || bindHost === '::') return os.hostname();
  return isIP(bindHost) === 6 ? `[${bindHost}]` : bindHost;
}

/**
 * Where the live view is reached, for logs and Home Assistant's `configuration_url`; undefined when it is off.
 * The token is never part of it (discovery messages are retained on the broker for anyone subscribed).
 */
export function liveViewUrl(cfg: AgentConfig, port: number = cfg.web.port): string | undefined {
  if (!cfg.web.enabled) return undefined;
  return `http://${urlHost(cfg.web.host)}:${port}/`;
}

/** Starts the live view when web.enabled, else does nothing and returns undefined. */
export async function startLiveViewIfEnabled(agent: LiveViewHost, log: Logger, opts: LiveViewOptions = {}): Promise<LiveView | undefined> {
  return agent.cfg.web.enabled ? startLiveView(agent, log, opts) : undefined;
}

interface PageFiles {
  html: Buffer;
  js: Buffer;
  css: Buffer;
}

async function loadPage(dir: string): Promise<PageFiles> {
  const read = async (name: string): Promise<Buffer> => {
    try {
      return await readFile(path.join(dir, name));
    } catch (err) {
      throw new FerError('io_failed', `live view page file ${path.join(dir, name)} cannot be read: ${errorMessage(err)}`);
    }
  };
  const [html, js, css] = await Promise.all([read('index.html'), read('app.js'), read('style.css')]);
  return { html, js, css };
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'self'; img-src 'self' blob: data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; form-action 'self'",
};

function tokenForm(reason: string): string {
  const esc = reason.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width">
<title>fer-edge live view</title></head><body><h1>fer-edge live view</h1><p>${esc}</p>
<form method="get" action="/"><label>Token <input name="token" type="password" autocomplete="current-password" autofocus></label>
<button type="submit">Open</button></form></body></html>\n`;
}

/** Starts the live view; throws a FerError when web.enabled is false (no image leaves the device unless it is on). */
export async function startLiveView(agent: LiveViewHost, log: Logger, opts: LiveViewOptions = {}): Promise<LiveView> {
  const { bus, cfg } = agent;
  if (!cfg.web.enabled) throw new FerError('config_invalid', 'web.enabled is false: the live view stays off until it is set to true');
  const clock = opts.clock ?? systemClock;
  const frameWaitMs = opts.frameWaitMs ?? FRAME_WAIT_MS;
  const page = await loadPage(opts.pageDir ?? pageDir);
  // `snapshot`: the page says plainly that this camera sends a picture per event to MQTT.
  const cameras = cfg.cameras.map((c) => ({ id: c.id, name: c.name ?? c.id, snapshot: c.snapshot?.enabled ?? cfg.snapshot.enabled }));
  const cameraIds = new Set(cameras.map((c) => c.id));
  const ownNames = [os.hostname().toLowerCase(), `${os.hostname().toLowerCase()}.local`];
  if (cfg.web.host && isIP(cfg.web.host) === 0) ownNames.push(cfg.web.host.toLowerCase());

  // What a page needs on connect; kept whether or not a page is open (small, and events are rare).
  const events: WireEvent[] = [];
  const rates = new Map<string, RateMeter>(cameras.map((c) => [c.id, new RateMeter()]));
  const sources = new Map<string, SourceStatus>();
  const lastResult = new Map<string, FrameResult>();
  let model: WireModel | null = null;
  try {
    model = wireModel(agent.model);
  } catch {
    // The agent has not loaded its model yet; the 'model' message will bring it.
  }

  const clients = new Set<SseClient>();
  const frames = new FrameJpegs({ bus, clock });
  let statsTimer: NodeJS.Timeout | undefined;
  let ticks = 0;

  const statesOf = (cameraId: string): DebouncedState[] => agent.pipelines.find((p) => p.cameraId === cameraId)?.states() ?? [];
  const pausedOf = (cameraId: string): boolean => agent.pipelines.find((p) => p.cameraId === cameraId)?.isPaused() ?? false;
  const stats = () => {
    const now = clock.mono();
    return cameras.map((c) => wireCameraStats(c.id, (rates.get(c.id) as RateMeter).snapshot(now), pausedOf(c.id), sources.get(c.id)));
  };
  const hello = (): WireHello => {
    const now = clock.mono();
    const results: WireResult[] = [...lastResult.values()].map((r) => wireResult(r, statesOf(r.cameraId), now));
    return { agentId: cfg.agent_id, cameras, model, events: [...events], results, stats: stats() };
  };
  const broadcast = (event: string, data: unknown, droppable = false): void => {
    if (clients.size === 0) return;
    const json = JSON.stringify(data);
    for (const c of clients) c.sendRaw(event, json, droppable);
  };

  const onResult = (r: FrameResult): void => {
    rates.get(r.cameraId)?.add(r.monoMs, r.timings);
    lastResult.set(r.cameraId, r);
    if (clients.size > 0) broadcast('result', wireResult(r, statesOf(r.cameraId), clock.mono()), true);
  };
  const onEvent = (e: EmotionEvent): void => {
    const w = wireEvent(e);
    events.push(w);
    if (events.length > EVENT_HISTORY) events.shift();
    broadcast('event', w);
  };
  const onModel = (m: ModelInfo): void => {
    model = wireModel(m);
    broadcast('model', model);
  };
  const onSource = (s: SourceStatus): void => {
    sources.set(s.cameraId, s);
  };
  const onPaused = (): void => broadcast('stats', stats());
  const owner = {};
  bus.listen(owner, 'result', onResult);
  bus.listen(owner, 'event', onEvent);
  bus.listen(owner, 'model', onModel);
  bus.listen(owner, 'source', onSource);
  bus.listen(owner, 'paused', onPaused);

  const openStream = (res: http.ServerResponse): void => {
    const client = new SseClient(res);
    clients.add(client);
    // While a page is open the pipeline hands us frames, so /frame.jpg answers with the newest one at once.
    const release = frames.watch();
    res.on('close', () => {
      clients.delete(client);
      release();
      if (clients.size === 0 && statsTimer) {
        clearInterval(statsTimer);
        statsTimer = undefined;
      }
    });
    client.send('hello', hello());
    statsTimer ??= setInterval(() => {
      broadcast('stats', stats(), true);
      if (++ticks % PING_EVERY_STATS === 0) for (const c of clients) c.ping();
    }, STATS_INTERVAL_MS);
  };

  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const send = (code: number, type: string, body: string | Buffer, extra: Record<string, string> = {}): void => {
      res.writeHead(code, { ...SECURITY_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, 'text/plain; charset=utf-8', 'method not allowed\n', { allow: 'GET, HEAD' });

    const access = decideAccess({ token: cfg.web.token, port: (server.address() as AddressInfo).port, url, cookieHeader: req.headers.cookie, hostHeader: req.headers.host, ownNames });
    if (!access.ok) {
      if (access.status === 401 && (url.pathname === '/' || url.pathname === '/index.html')) return send(401, 'text/html; charset=utf-8', tokenForm(access.reason));
      return send(access.status, 'text/plain; charset=utf-8', access.reason + '\n');
    }
    if (access.setCookie) res.setHeader('set-cookie', access.setCookie);

    switch (url.pathname) {
      case '/':
      case '/index.html':
        return send(200, 'text/html; charset=utf-8', page.html);
      case '/app.js':
        return send(200, 'text/javascript; charset=utf-8', page.js);
      case '/style.css':
        return send(200, 'text/css; charset=utf-8', page.css);
      case '/favicon.ico':
        return send(204, 'image/x-icon', '');
      case '/config':
        return send(200, 'application/json; charset=utf-8', JSON.stringify(maskedConfig(cfg), null, 2) + '\n');
      case '/state':
        return send(200, 'application/json; charset=utf-8', JSON.stringify(hello()) + '\n');
      case '/events':
        if (req.method === 'HEAD') return send(200, 'text/event-stream; charset=utf-8', '');
        for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
        return openStream(res);
      case '/frame.jpg': {
        const cameraId = url.searchParams.get('camera') ?? cameras[0]?.id ?? '';
        if (!cameraIds.has(cameraId)) return send(404, 'text/plain; charset=utf-8', `no camera ${JSON.stringify(cameraId)}; cameras: ${[...cameraIds].join(', ')}\n`);
        frames
          .jpeg(cameraId, frameWaitMs)
          .then((j) => {
            if (!j) return send(503, 'text/plain; charset=utf-8', `camera ${cameraId} delivered no frame in ${frameWaitMs / 1000} s\n`, { 'retry-after': '1' });
            return send(200, 'image/jpeg', j.bytes, { 'x-frame-seq': String(j.seq), 'x-frame-width': String(j.frameWidth), 'x-frame-height': String(j.frameHeight) });
          })
          .catch((err: unknown) => {
            log.warn({ camera: cameraId, err: errorMessage(err) }, 'live view could not encode a frame');
            send(500, 'text/plain; charset=utf-8', 'frame encoding failed\n');
          });
        return;
      }
      default:
        return send(404, 'text/plain; charset=utf-8', 'not found: try /, /events, /frame.jpg?camera=ID, /config or /state\n');
    }
  });
  server.keepAliveTimeout = 5000;

  const detach = (): void => bus.release(owner);
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(cfg.web.port, cfg.web.host || undefined, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    detach();
    throw new FerError('io_failed', `live view cannot listen on ${cfg.web.host}:${cfg.web.port} (web.host/web.port): ${errorMessage(err)}`);
  }
  const addr = server.address() as AddressInfo;
  const url = liveViewUrl(cfg, addr.port) as string;
  log.info({ url, host: addr.address, port: addr.port, token: cfg.web.token !== '' }, 'live view listening');

  return {
    url,
    host: addr.address,
    port: addr.port,
    stop: async () => {
      detach();
      if (statsTimer) clearInterval(statsTimer);
      statsTimer = undefined;
      for (const c of clients) c.close();
      clients.clear();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
