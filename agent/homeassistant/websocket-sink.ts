/**
 * For users without MQTT: fires a `fer_emotion` event on Home Assistant's event bus per debounced change, over
 * Home Assistant's websocket API (home-assistant-js-websocket) with a long-lived access token.
 *
 * Delivery follows the MQTT rules (events/delivery.ts): events wait in a bounded queue while Home Assistant is
 * away and are fired after reconnect only while younger than the max age; a fired (acknowledged) event is never
 * fired again. home-assistant-js-websocket reconnects by itself once connected; we only retry the first connect.
 */
import * as haws from 'home-assistant-js-websocket';
import WebSocket from 'ws';
import type { Bus } from '../core/bus.js';
import { systemClock, type Clock } from '../core/clock.js';
import { FerError, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { AgentControl, EmotionEvent } from '../core/types.js';
import { backoffMs } from '../core/backoff.js';
import { EventDelivery, type DeliveryStats } from '../events/delivery.js';
import { eventIdFactory, eventPayload, type EventPayload } from '../events/payloads.js';

export const HA_EVENT_TYPE = 'fer_emotion';

export interface StartHomeAssistantWsOptions {
  /** Home Assistant's URL, e.g. http://homeassistant.local:8123 (a ws:// URL or one ending in /api/websocket works too). */
  url: string;
  token: string;
  agentId: string;
  bus: Bus;
  log: Logger;
  cameras?: ReadonlyArray<{ id: string; name: string }>;
  /** When given, events of paused cameras are not fired. */
  control?: AgentControl;
  clock?: Clock;
  maxAgeMs?: number;
  queueMax?: number;
}

export interface HomeAssistantWsHandle {
  stop(): Promise<void>;
  connected(): boolean;
  queueDepth(): number;
  stats(): DeliveryStats;
}

/** The base URL home-assistant-js-websocket wants (it appends /api/websocket itself). */
export function homeAssistantBaseUrl(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new FerError('config_invalid', `homeassistant.websocket_url = ${JSON.stringify(url)} is not a URL; expected e.g. http://homeassistant.local:8123`);
  }
  const proto = { 'ws:': 'http:', 'wss:': 'https:', 'http:': 'http:', 'https:': 'https:' }[u.protocol];
  if (!proto) throw new FerError('config_invalid', `homeassistant.websocket_url = ${JSON.stringify(url)} must start with http://, https://, ws:// or wss://`);
  const pathname = u.pathname.replace(/\/api\/websocket\/?$/, '').replace(/\/+$/, '');
  return `${proto}//${u.host}${pathname}`;
}

function ensureWebSocket(): void {
  // home-assistant-js-websocket uses the global WebSocket, which Node 20 lacks.
  const g = globalThis as { WebSocket?: unknown };
  if (g.WebSocket === undefined) g.WebSocket = WebSocket;
}

function haError(err: unknown): string {
  if (typeof err === 'number') return `error code ${err}`;
  if (typeof err === 'object' && err !== null && 'error' in err) {
    const e = (err as { error?: { code?: unknown; message?: unknown } }).error;
    return `${String(e?.code ?? '')} ${String(e?.message ?? '')}`.trim();
  }
  return errorMessage(err);
}

export async function startHomeAssistantWs(opts: StartHomeAssistantWsOptions): Promise<HomeAssistantWsHandle> {
  if (!opts.token) {
    throw new FerError('config_invalid', 'homeassistant.websocket_url is set but there is no token: set homeassistant.token_file (or FER_HA_TOKEN) to a long-lived access token from your Home Assistant profile');
  }
  ensureWebSocket();
  const base = homeAssistantBaseUrl(opts.url);
  const log = opts.log.child({ module: 'homeassistant-ws' });
  const clock = opts.clock ?? systemClock;
  const names = new Map((opts.cameras ?? []).map((c) => [c.id, c.name]));
  const nextId = eventIdFactory(opts.agentId, clock.wall());
  let conn: haws.Connection | undefined;
  let stopping = false;
  let retryTimer: ReturnType<typeof setTimeout> | undefined;

  const badToken = (): FerError =>
    new FerError('config_invalid', `Home Assistant at ${base} rejected the access token (homeassistant.token / token_file): create a new long-lived access token in your Home Assistant profile`);

  const delivery = new EventDelivery<EventPayload & { camera_name: string }>(
    { maxItems: opts.queueMax ?? 100, maxAgeMs: opts.maxAgeMs ?? 60_000 },
    {
      send: (data, done) => {
        if (!conn?.connected) {
          done(new Error('not connected'));
          return;
        }
        conn.sendMessagePromise({ type: 'fire_event', event_type: HA_EVENT_TYPE, event_data: data }).then(
          () => done(),
          (err: unknown) => done(new Error(haError(err))),
        );
      },
    },
    clock,
    (dropped) => {
      for (const d of dropped) log.warn({ camera: d.item.camera, event_type: d.item.event_type, reason: d.reason }, 'Home Assistant event dropped (too old or queue full)');
    },
  );

  const attach = (c: haws.Connection): void => {
    conn = c;
    c.addEventListener('ready', () => {
      log.info({ url: base }, 'Home Assistant websocket connected again');
      delivery.setOnline(true);
    });
    c.addEventListener('disconnected', () => {
      log.warn({ url: base }, 'Home Assistant websocket lost; reconnecting');
      delivery.setOnline(false);
    });
    c.addEventListener('reconnect-error', (_c, err) => {
      delivery.setOnline(false);
      if (err === haws.ERR_INVALID_AUTH) log.error({ reason: 'config_invalid' }, badToken().message);
      else log.warn({ err: haError(err) }, 'Home Assistant websocket reconnect failed');
    });
    delivery.setOnline(true);
    log.info({ url: base, version: c.haVersion }, 'Home Assistant websocket connected');
  };

  /** One connect attempt: true when connected, false when Home Assistant cannot be reached; throws on a bad token. */
  const tryConnect = async (): Promise<boolean> => {
    try {
      const c = await haws.createConnection({ auth: haws.createLongLivedTokenAuth(base, opts.token), setupRetry: 0 });
      if (stopping) {
        c.close();
        return true;
      }
      attach(c);
      return true;
    } catch (err) {
      if (err === haws.ERR_INVALID_AUTH) throw badToken();
      return false;
    }
  };

  const retry = (attempt: number): void => {
    retryTimer = setTimeout(() => {
      retryTimer = undefined;
      if (stopping) return;
      tryConnect().then(
        (ok) => {
          if (!ok) retry(attempt + 1);
        },
        (err: unknown) => log.error({ reason: 'config_invalid' }, errorMessage(err)),
      );
    }, backoffMs(attempt));
  };

  // The first attempt decides: a bad token is an error for the caller; an unreachable Home Assistant is retried.
  if (!(await tryConnect())) {
    log.warn({ url: base }, 'Home Assistant not reachable yet; retrying in the background, events wait in the queue');
    retry(0);
  }

  const onEvent = (e: EmotionEvent): void => {
    if (opts.control?.isPaused(e.cameraId)) return;
    delivery.submit({ ...eventPayload(e, opts.agentId, nextId), camera_name: names.get(e.cameraId) ?? e.cameraId }, e.monoMs);
  };
  const owner = {};
  opts.bus.listen(owner, 'event', onEvent);

  return {
    async stop() {
      stopping = true;
      clearTimeout(retryTimer);
      opts.bus.release(owner);
      const left = delivery.clear();
      if (left > 0) log.warn({ events: left }, 'Home Assistant sink stopping with events not fired');
      conn?.close();
    },
    connected: () => conn?.connected === true,
    queueDepth: () => delivery.depth(),
    stats: () => delivery.stats(),
  };
}
