/**
 * A real Home Assistant Core for the end-to-end test: a temp config dir, `hass --skip-pip` from the venv made by
 * setup-ha.sh, onboarding and the MQTT integration set up over the REST API, a long-lived token over the websocket.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as haws from 'home-assistant-js-websocket';
import WebSocket from 'ws';
import { freePort } from '../helpers/mosquitto.js';

export interface HaState {
  entity_id: string;
  state: string;
  attributes: Record<string, unknown>;
  last_changed: string;
}

export interface HomeAssistant {
  url: string;
  /** A long-lived access token. */
  token: string;
  dir: string;
  rest<T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T>;
  states(): Promise<HaState[]>;
  state(entityId: string): Promise<HaState | undefined>;
  connect(token?: string): Promise<haws.Connection>;
  log(): string;
  /** Stops and starts Home Assistant on the same config dir and port (its token stays valid). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** The venv from FER_HA_VENV when it has Home Assistant, else a sentence saying what is missing. */
export function haVenv(): { venv?: string; missing?: string } {
  const venv = process.env.FER_HA_VENV;
  if (!venv) return { missing: 'FER_HA_VENV is unset: run test/homeassistant/setup-ha.sh DIR and set FER_HA_VENV=DIR' };
  if (!existsSync(path.join(venv, 'bin', 'hass'))) return { missing: `FER_HA_VENV=${venv} has no bin/hass: run test/homeassistant/setup-ha.sh ${venv}` };
  return { venv };
}

export function ensureWebSocket(): void {
  const g = globalThis as { WebSocket?: unknown };
  if (g.WebSocket === undefined) g.WebSocket = WebSocket;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface StartHomeAssistantOptions {
  venv: string;
  mqttPort: number;
  /** Files copied into the config dir: [source, relative destination]. */
  files?: Array<[string, string]>;
  /** Extra top-level YAML appended to configuration.yaml. */
  extraYaml?: string;
}

export async function startHomeAssistant(opts: StartHomeAssistantOptions): Promise<HomeAssistant> {
  ensureWebSocket();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-ha-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  for (const [src, dest] of opts.files ?? []) cpSync(src, path.join(dir, dest), { recursive: true });
  writeFileSync(
    path.join(dir, 'configuration.yaml'),
    [
      'homeassistant:',
      '  name: fer-e2e',
      '  time_zone: UTC',
      '  unit_system: metric',
      '  latitude: 0',
      '  longitude: 0',
      '  elevation: 0',
      '  country: US',
      'http:',
      '  server_host: 127.0.0.1',
      `  server_port: ${port}`,
      'api:',
      'config:',
      'logger:',
      '  default: warning',
      opts.extraYaml ?? '',
    ].join('\n') + '\n',
  );
  let output = '';
  let proc: ChildProcess | undefined;
  const launch = async (): Promise<void> => {
    const p = spawn(path.join(opts.venv, 'bin', 'hass'), ['-c', dir, '--skip-pip'], { stdio: ['ignore', 'pipe', 'pipe'] });
    p.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    proc = p;
    const until = Date.now() + 180_000;
    for (;;) {
      if (p.exitCode !== null) throw new Error(`Home Assistant exited with code ${p.exitCode}`);
      const status = await fetch(`${url}/api/`).then((r) => r.status, () => 0);
      if (status === 401) return;
      if (Date.now() > until) throw new Error('Home Assistant did not answer on /api/ within 180 s');
      await sleep(500);
    }
  };
  const halt = async (): Promise<void> => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => p.kill('SIGKILL'), 30_000);
      p.once('exit', () => {
        clearTimeout(t);
        resolve();
      });
      p.kill('SIGTERM');
    });
  };
  const stop = async (): Promise<void> => {
    await halt();
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await launch();
    const until = Date.now() + 180_000;
    const clientId = `${url}/`;
    const post = async <T>(route: string, body: unknown, token?: string, form = false): Promise<T> => {
      const r = await fetch(`${url}${route}`, {
        method: 'POST',
        headers: { 'Content-Type': form ? 'application/x-www-form-urlencoded' : 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
        body: form ? new URLSearchParams(body as Record<string, string>).toString() : JSON.stringify(body),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`POST ${route}: ${r.status} ${text}`);
      return JSON.parse(text) as T;
    };
    const { auth_code } = await post<{ auth_code: string }>('/api/onboarding/users', { client_id: clientId, name: 'fer e2e', username: 'fer', password: 'fer-e2e-password', language: 'en' });
    const { access_token } = await post<{ access_token: string }>('/auth/token', { grant_type: 'authorization_code', code: auth_code, client_id: clientId }, undefined, true);
    const flow = await post<{ flow_id: string }>('/api/config/config_entries/flow', { handler: 'mqtt' }, access_token);
    const entry = await post<{ type: string; result?: { state: string } }>(`/api/config/config_entries/flow/${flow.flow_id}`, { broker: '127.0.0.1', port: opts.mqttPort }, access_token);
    if (entry.type !== 'create_entry') throw new Error(`MQTT config flow did not create an entry: ${JSON.stringify(entry)}`);
    // The onboarding token lives 30 minutes; the test uses a long-lived one.
    const conn = await haws.createConnection({ auth: haws.createLongLivedTokenAuth(url, access_token), setupRetry: 0 });
    const token = await conn.sendMessagePromise<string>({ type: 'auth/long_lived_access_token', client_name: 'fer-e2e', lifespan: 1 });
    conn.close();

    const rest = async <T>(method: 'GET' | 'POST', route: string, body?: unknown): Promise<T> => {
      const r = await fetch(`${url}${route}`, {
        method,
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
      const text = await r.text();
      if (!r.ok) throw new Error(`${method} ${route}: ${r.status} ${text}`);
      return (text ? JSON.parse(text) : undefined) as T;
    };
    // Wait until Home Assistant has finished starting (automations are live from then on).
    const running = async (deadline: number): Promise<void> => {
      for (;;) {
        const cfg = await rest<{ state: string }>('GET', '/api/config');
        if (cfg.state === 'RUNNING') return;
        if (Date.now() > deadline) throw new Error(`Home Assistant still ${cfg.state} after 180 s`);
        await sleep(500);
      }
    };
    await running(until);
    const states = (): Promise<HaState[]> => rest<HaState[]>('GET', '/api/states');
    return {
      url,
      token,
      dir,
      rest,
      states,
      state: async (id) => (await states()).find((s) => s.entity_id === id),
      connect: (tok = token) => haws.createConnection({ auth: haws.createLongLivedTokenAuth(url, tok), setupRetry: 0 }),
      log: () => {
        try {
          return output + readFileSync(path.join(dir, 'home-assistant.log'), 'utf8');
        } catch {
          return output;
        }
      },
      async restart() {
        await halt();
        await launch();
        await running(Date.now() + 180_000);
      },
      stop,
    };
  } catch (err) {
    const log = output.slice(-4000);
    await stop();
    throw new Error(`${(err as Error).message}\n--- Home Assistant output ---\n${log}`);
  }
}
