/**
 * `fer-agent doctor`: checks what the agent needs, one line per check, and says why something fails:
 * config, engines (which one `auto` takes and why the others were not), model bundle (hashes, load, self-test),
 * each camera source (a first frame within a timeout), and the broker.
 */
import { redactUrl } from '../core/redact.js';
import mqtt from 'mqtt';
import { loadConfig, resolveCameras } from '../config/load.js';
import type { AgentConfig } from '../config/schema.js';
import { errorMessage } from '../core/errors.js';
import { silentLogger } from '../core/log.js';
import { probeAll, selectEngine } from '../engines/select.js';
import { readCpuClass } from '../core/cpu-class.js';
import type { PrecisionDecision } from '../engines/precision-choice.js';
import { runSelfTest } from '../models/selftest.js';
import { setupClassifier } from '../pipeline/classifier-setup.js';
import { stateDirCache } from '../pipeline/precision-cache.js';
import { centerFacePrecisionDecision } from '../vision/centerface-detector.js';
import { int8ScoreThreshold } from '../vision/centerface-int8-scores.js';
import { resolveDetector } from '../vision/create-detector.js';
import { connectionOptions } from '../mqtt/connection.js';
import { CameraFeed } from '../sources/camera-feed.js';
import { createSource } from '../sources/source.js';
import { overridesFrom, parse } from './args.js';
import { commandModelDir } from './serving-model.js';

interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

function decided(d: PrecisionDecision | null, setting: string): string {
  return d ? `precision auto: ${d.precision} (${d.why})` : `precision ${setting}`;
}

async function checkModel(cfg: AgentConfig, engine: string, dir: string): Promise<Check> {
  try {
    const m = await setupClassifier({ ...cfg, engine: engine as AgentConfig['engine'] }, dir, silentLogger);
    try {
      const r = await runSelfTest(m.unmirrored, m.manifest);
      return { name: 'model', ok: true, detail: `${m.name}@${m.version} (${m.dir}): hashes ok, self-test ${r.cases} cases max diff ${r.maxDiff.toExponential(1)} on ${engine} (${m.classifier.spec.precision}); ${decided(m.precisionDecision, cfg.model.precision)}; flip TTA ${m.flipTta.on ? 'on' : 'off'} (${m.flipTta.why})` };
    } finally {
      await m.classifier.dispose();
    }
  } catch (err) {
    return { name: 'model', ok: false, detail: `${dir}: ${errorMessage(err)}` };
  }
}

/** The CPU class (what int8 results and speed figures depend on) and what CenterFace's `precision: auto` picks. */
async function checkCpuAndDetector(cfg: AgentConfig, engine: string): Promise<Check[]> {
  const cpu = readCpuClass();
  const checks: Check[] = [{ name: 'cpu', ok: true, detail: `${cpu.model}, class ${cpu.name} (${cpu.flags.join(' ') || 'no int8-relevant flags'})` }];
  const cam = resolveCameras(cfg)[0];
  if (!cam || resolveDetector(cam.detection, engine) !== 'centerface') return checks;
  // The int8 model scores lower (by input size); say which threshold it really applies (centerface-int8-scores.ts).
  const threshold = (precision: string): string => {
    const t = cam.detection.score_threshold;
    return precision === 'int8' ? `; score threshold ${t} (${int8ScoreThreshold(t, cam.detection.input_width, cam.detection.input_height).toFixed(3)} on the int8 model's scale)` : `; score threshold ${t}`;
  };
  if (cam.detection.precision !== 'auto') return [...checks, { name: 'detector', ok: true, detail: `centerface, precision ${cam.detection.precision} (set)${threshold(cam.detection.precision)}` }];
  try {
    const d = await centerFacePrecisionDecision({ detection: cam.detection, threads: cfg.threads, precisionCache: stateDirCache(cfg.model.state_dir, silentLogger) });
    return [...checks, { name: 'detector', ok: true, detail: `centerface ${cam.detection.input_width}x${cam.detection.input_height}, ${decided(d, 'auto')}${threshold(d.precision)}` }];
  } catch (err) {
    return [...checks, { name: 'detector', ok: false, detail: `centerface: ${errorMessage(err)}` }];
  }
}

async function checkCamera(cam: ReturnType<typeof resolveCameras>[number], timeoutMs: number): Promise<Check> {
  const name = `camera ${cam.id}`;
  let feed: CameraFeed | undefined;
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  try {
    const maxWidth = cam.detection.max_frame_width || undefined;
    feed = new CameraFeed({ cameraId: cam.id, source: createSource(cam.id, cam.source, silentLogger, { maxWidth }), fps: cam.fps, log: silentLogger, maxWidth });
    // A program that is not installed will not appear by waiting: say so at once instead of after the timeout.
    const f = feed;
    let missing: string | null = null;
    const watch = setInterval(() => {
      const e = f.stats().lastError;
      if (e && /not found on PATH/.test(e)) {
        missing = e;
        ctrl.abort();
      }
    }, 25);
    const frame = await feed.next(ctrl.signal).finally(() => clearInterval(watch));
    if (missing) return { name, ok: false, detail: `${cam.source.type}: ${missing}` };
    if (!frame) {
      const st = feed.stats();
      return { name, ok: false, detail: `${cam.source.type}: no frame within ${timeoutMs} ms${st.lastError ? ` (${st.lastError})` : ''}` };
    }
    return { name, ok: true, detail: `${cam.source.type}: ${frame.width}x${frame.height} frame received` };
  } catch (err) {
    return { name, ok: false, detail: `${cam.source.type}: ${errorMessage(err)}` };
  } finally {
    clearTimeout(timer);
    await feed?.stop();
  }
}

async function checkBroker(cfg: AgentConfig, timeoutMs: number): Promise<Check> {
  if (!cfg.mqtt.url) return { name: 'broker', ok: true, detail: 'MQTT off (mqtt.url is empty)' };
  if (cfg.mqtt.url === 'embedded') return { name: 'broker', ok: true, detail: `embedded broker on ${cfg.mqtt.embedded_host}:${cfg.mqtt.embedded_port} (started by run)` };
  try {
    const conn = connectionOptions(cfg.mqtt, cfg.agent_id, cfg.mqtt.url, undefined);
    const client = await mqtt.connectAsync(conn.url, { ...conn.options, clientId: `${conn.options.clientId}-doctor`, reconnectPeriod: 0, connectTimeout: timeoutMs });
    await client.endAsync();
    return { name: 'broker', ok: true, detail: `${redactUrl(cfg.mqtt.url)}: connected` };
  } catch (err) {
    return { name: 'broker', ok: false, detail: redactUrl(`${cfg.mqtt.url}: ${errorMessage(err)}`) };
  }
}

export async function doctorCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { timeout: { type: 'string' }, json: { type: 'boolean' } });
  if (values.help) {
    process.stdout.write('usage: fer-agent doctor [--config FILE] [--set key=value] [--timeout MS] [--json]\n  checks the config, engines, model, cameras, ports and broker as run would use them; exit 1 if any fails\n');
    return 0;
  }
  const timeoutMs = Number(values.timeout ?? 8000);
  const checks: Check[] = [];
  let cfg: AgentConfig;
  try {
    cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
    checks.push({ name: 'config', ok: true, detail: `${values.config ?? 'defaults'}: ${cfg.cameras.length} camera(s)` });
  } catch (err) {
    checks.push({ name: 'config', ok: false, detail: errorMessage(err) });
    return report(checks, values.json === true);
  }
  for (const p of await probeAll()) checks.push({ name: `engine ${p.engine}`, ok: true, detail: p.ok ? `available (${p.detail})` : `not available: ${p.detail}` });
  try {
    const choice = await selectEngine(cfg.engine);
    checks.push({ name: 'engine', ok: true, detail: `${cfg.engine} → ${choice.engine}` });
    checks.push(...(await checkCpuAndDetector(cfg, choice.engine)));
    checks.push(await checkModel(cfg, choice.engine, await commandModelDir(cfg, values.model, silentLogger)));
  } catch (err) {
    checks.push({ name: 'engine', ok: false, detail: errorMessage(err) });
  }
  for (const cam of resolveCameras(cfg)) checks.push(await checkCamera(cam, timeoutMs));
  checks.push(await checkBroker(cfg, timeoutMs));
  for (const p of portsOf(cfg)) checks.push(await checkPort(p.name, p.host, p.port));
  return report(checks, values.json === true);
}

/** The ports run would listen on with this config. */
function portsOf(cfg: AgentConfig): Array<{ name: string; host: string; port: number }> {
  const out: Array<{ name: string; host: string; port: number }> = [];
  if (cfg.mqtt.url === 'embedded') out.push({ name: 'port embedded broker', host: cfg.mqtt.embedded_host, port: cfg.mqtt.embedded_port });
  if (cfg.health.port > 0) out.push({ name: 'port health', host: cfg.health.host, port: cfg.health.port });
  if (cfg.web.enabled) out.push({ name: 'port live view', host: cfg.web.host, port: cfg.web.port });
  return out;
}

/** Whether run could listen there: binds and releases it at once, as run would fail if it could not. */
async function checkPort(name: string, host: string, port: number): Promise<Check> {
  const { createServer } = await import('node:net');
  return new Promise((resolve) => {
    const srv = createServer();
    srv.once('error', (err: NodeJS.ErrnoException) => {
      const why = err.code === 'EADDRINUSE' ? 'already in use (another broker or agent?)' : errorMessage(err);
      resolve({ name, ok: false, detail: `${host}:${port} ${why}` });
    });
    srv.listen(port, host, () => srv.close(() => resolve({ name, ok: true, detail: `${host}:${port} free` })));
  });
}

function report(checks: Check[], json: boolean): number {
  if (json) process.stdout.write(JSON.stringify(checks) + '\n');
  else for (const c of checks) process.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(22)} ${c.detail}\n`);
  return checks.every((c) => c.ok) ? 0 : 1;
}
