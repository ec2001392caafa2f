/**
 * Layered configuration: configs/default.json → --config FILE → FER_* environment → command-line flags.
 * Secrets may come from *_file paths. Any invalid value throws a FerError naming the key, value and what is allowed.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import convict from 'convict';
import { FerError, errorMessage } from '../core/errors.js';
import { bundledModelDir, packageRoot, sampleFramesDir } from '../core/paths.js';
import { redactDeep } from '../core/redact.js';
import { checkFileTypes, checkOverrideTypes } from './strict-types.js';
import { schema, validateCamera, type AgentConfig, type CameraConfig, type DebounceConfig, type DetectionConfig, type SnapshotConfig, type TrackingConfig } from './schema.js';

export interface LoadOptions {
  /** A user config file (JSON). */
  file?: string;
  /** Overrides applied last, e.g. from flags or tests: dotted keys → values. */
  overrides?: Record<string, unknown>;
  /** Environment to read FER_* from (default process.env). */
  env?: NodeJS.ProcessEnv;
  /** Command-line arguments convict reads (default: none; the CLI parses its own flags into overrides). */
  args?: string[];
  /** Skip configs/default.json (tests). */
  skipDefaultFile?: boolean;
}

/** A camera with the global detection/tracking/debounce settings merged under its own overrides. */
export interface ResolvedCamera {
  id: string;
  name: string;
  source: CameraConfig['source'];
  fps: number;
  detection: DetectionConfig;
  tracking: TrackingConfig;
  debounce: DebounceConfig;
  snapshot: SnapshotConfig;
}

export const defaultConfigFile = path.join(packageRoot, 'configs', 'default.json');

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new FerError('config_invalid', `${what} ${file} cannot be read: ${errorMessage(err)}`);
  }
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (err) {
    throw new FerError('config_invalid', `${what} ${file} is not valid JSON${jsonPosition(text, errorMessage(err))}: ${errorMessage(err)}`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new FerError('config_invalid', `${what} ${file}: the top level must be an object {...}`);
  return v as Record<string, unknown>;
}

/** " at line L, column C" for a JSON.parse error that names a position, else "". */
function jsonPosition(text: string, message: string): string {
  const m = /position (\d+)/.exec(message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1]));
  const line = before.split('\n').length;
  return ` at line ${line}, column ${before.length - before.lastIndexOf('\n')}`;
}

function readSecret(file: string, key: string): string {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (err) {
    throw new FerError('config_invalid', `${key} = ${JSON.stringify(file)} cannot be read: ${errorMessage(err)}`);
  }
}

export function loadConfig(opts: LoadOptions = {}): AgentConfig {
  const build = () => convict(schema, { env: opts.env ?? process.env, args: opts.args ?? [] });
  let conf: ReturnType<typeof build>;
  try {
    // Construction reads the environment, so a bad FER_* value already fails here.
    conf = build();
    if (!opts.skipDefaultFile && existsSync(defaultConfigFile)) conf.load(readJson(defaultConfigFile, 'default config'));
    if (opts.file) {
      const user = readJson(opts.file, 'config file');
      checkFileTypes(user, schema as unknown as Record<string, unknown>);
      conf.load(user);
    }
    // Environment beats files: convict applies env at construction, so re-apply it after loading files.
    const envOnly = convict(schema, { env: opts.env ?? process.env, args: [] });
    for (const [key, v] of Object.entries(flatten(schema))) {
      if (v.env && (opts.env ?? process.env)[v.env] !== undefined) conf.set(key, envOnly.get(key as never));
    }
    checkOverrideTypes(opts.overrides ?? {}, schema as unknown as Record<string, unknown>);
    for (const [k, v] of Object.entries(opts.overrides ?? {})) conf.set(k, v);
    // Cameras first, by ourselves: their messages name the exact key and value (`cameras[0].fps = "5"`), which
    // convict would wrap in "cameras: ...: value was [the whole list]".
    const cams = conf.get('cameras' as never) as unknown;
    if (Array.isArray(cams)) {
      try {
        cams.forEach(validateCamera);
      } catch (err) {
        throw new FerError('config_invalid', `invalid configuration: ${redactDeep(errorMessage(err))}`);
      }
    }
    conf.validate({ allowed: 'strict' });
  } catch (err) {
    if (err instanceof FerError) throw err;
    throw new FerError('config_invalid', `invalid configuration: ${errorMessage(err)}`);
  }
  const cfg = conf.getProperties() as AgentConfig;
  // systemd's LoadCredential= puts secrets in $CREDENTIALS_DIRECTORY: used when no password/token is configured.
  const creds = (opts.env ?? process.env).CREDENTIALS_DIRECTORY;
  const credential = (name: string): string => (creds && existsSync(path.join(creds, name)) ? path.join(creds, name) : '');
  if (!cfg.mqtt.password && !cfg.mqtt.password_file) cfg.mqtt.password_file = credential('mqtt_password');
  if (!cfg.homeassistant.token && !cfg.homeassistant.token_file) cfg.homeassistant.token_file = credential('ha_token');
  if (cfg.mqtt.password_file) cfg.mqtt.password = readSecret(cfg.mqtt.password_file, 'mqtt.password_file');
  if (cfg.homeassistant.token_file) cfg.homeassistant.token = readSecret(cfg.homeassistant.token_file, 'homeassistant.token_file');
  if (!cfg.model.path) cfg.model.path = bundledModelDir;
  for (const cam of cfg.cameras) {
    if ((cam.source.type === 'dir' || cam.source.type === 'file') && !cam.source.path) cam.source.path = sampleFramesDir;
  }
  return cfg;
}

type SchemaLeaf = { env?: string; default: unknown };
function flatten(obj: object, prefix = ''): Record<string, SchemaLeaf> {
  const out: Record<string, SchemaLeaf> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (v && typeof v === 'object' && 'default' in v) out[prefix + k] = v as SchemaLeaf;
    else if (v && typeof v === 'object') Object.assign(out, flatten(v as object, `${prefix}${k}.`));
  }
  return out;
}

export function resolveCameras(cfg: AgentConfig): ResolvedCamera[] {
  return cfg.cameras.map((c) => ({
    id: c.id,
    name: c.name ?? c.id,
    source: c.source,
    fps: c.fps ?? 5,
    detection: { ...cfg.detection, ...c.detection },
    tracking: { ...cfg.tracking, ...c.tracking },
    debounce: { ...cfg.debounce, ...c.debounce },
    snapshot: { ...cfg.snapshot, ...c.snapshot },
  }));
}

/**
 * The effective config as JSON with secrets masked (for `config`, `doctor`, logs and the live view): the secret keys,
 * and the user:password of every URL anywhere in it (camera URLs, ffmpeg/gstreamer arguments, broker URLs).
 */
export function maskedConfig(cfg: AgentConfig): AgentConfig {
  const copy = redactDeep(structuredClone(cfg));
  if (copy.mqtt.password) copy.mqtt.password = '***';
  if (copy.homeassistant.token) copy.homeassistant.token = '***';
  if (copy.web.token) copy.web.token = '***';
  return copy;
}
