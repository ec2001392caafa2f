/**
 * The configuration schema: every key, its default, its environment variable and its documentation.
 * `fer-agent config --doc` prints it; the defaults are the embedded demo (bundled frames, bundled model,
 * embedded broker), so `fer-agent run` works with no file at all.
 */
import os from 'node:os';
import convict from 'convict';
import { nearest } from '../core/nearest.js';
import { ID_RE, rangeFormat } from './formats.js';
import type { CameraConfig, DetectorName, EngineName, SourceType } from './types.js';
import { DETECTORS, ENGINES, SOURCE_TYPES } from './types.js';

export * from './types.js';

function fail(key: string, value: unknown, allowed: string): never {
  throw new Error(`${key} = ${JSON.stringify(value)} is invalid: ${allowed}`);
}

type Check = (key: string, v: unknown) => void;

const num = (min: number, max: number, integer = false): Check => (key, v) => {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max || (integer && !Number.isInteger(v))) {
    fail(key, v, `expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  }
};
const str: Check = (key, v) => {
  if (typeof v !== 'string') fail(key, v, 'expected a string');
};
const bool: Check = (key, v) => {
  if (typeof v !== 'boolean') fail(key, v, 'expected true or false');
};
const strings: Check = (key, v) => {
  if (!Array.isArray(v) || v.some((x) => typeof x !== 'string')) fail(key, v, 'expected an array of strings');
};
const oneOf = (values: readonly string[]): Check => (key, v) => {
  if (!values.includes(v as string)) fail(key, v, `expected one of ${values.join(', ')}`);
};
const ms = num(0, 86_400_000, true);

type Limit = readonly [min: number, max: number, integer: boolean];

/**
 * The numeric range of every number key, in one table: the global keys (convict formats made from it below) and a
 * camera's overrides (cameraKeyChecks) are checked by the same rule, at load time, naming the key. The upper bounds keep
 * a typo from costing gigabytes (a 100000-pixel detector input) or hanging the agent.
 */
export const LIMITS = {
  top: { threads: [1, 64, true] } as Record<string, Limit>,
  model: { keep_versions: [1, 100, true], max_bundle_bytes: [64 * 1024, 1024 ** 3, true] } as Record<string, Limit>,
  detection: {
    idle_interval_ms: [100, 3_600_000, true],
    full_interval_ms: [0, 60_000, true],
    max_frame_width: [0, 16_384, true],
    region_input: [64, 512, true],
    input_width: [64, 4096, true],
    input_height: [64, 4096, true],
    min_face_px: [0, 4096, true],
    score_threshold: [0.01, 1, false],
    faceapi_score_threshold: [0.01, 1, false],
    nms_iou: [0.01, 1, false],
    max_faces: [1, 256, true],
    roll_align_min_deg: [0, 45, false],
  } as Record<string, Limit>,
  tracking: { iou_threshold: [0, 1, false], max_missed_frames: [0, 10_000, true], smoothing: [0.001, 1, false] } as Record<string, Limit>,
  snapshot: { max_width: [64, 4096, true], quality: [1, 100, true], max_bytes: [4096, 4 * 1024 * 1024, true] } as Record<string, Limit>,
  debounce: {
    min_confidence: [0, 1, false],
    min_duration_ms: [0, 86_400_000, true],
    hysteresis: [0, 1, false],
    cooldown_ms: [0, 86_400_000, true],
    absence_timeout_ms: [0, 86_400_000, true],
  } as Record<string, Limit>,
  mqtt: { keepalive_s: [0, 65_535, true], event_max_age_s: [0, 86_400, true], offline_queue_max: [0, 100_000, true] } as Record<string, Limit>,
};

/**
 * A camera's detection/tracking/debounce overrides take their checks from the global keys' own schema entries
 * (ranges from LIMITS, enums, booleans): one source, so a new global key is overridable and checked the same way.
 */
function overrideChecks(group: 'detection' | 'tracking' | 'debounce' | 'snapshot'): Record<string, Check> {
  const node = schema[group] as Record<string, { format: unknown }>;
  const limits = LIMITS[group];
  return Object.fromEntries(
    Object.entries(node).map(([k, entry]): [string, Check] => {
      const limit = limits[k];
      if (limit) return [k, num(...limit)];
      if (Array.isArray(entry.format)) return [k, oneOf(entry.format as string[])];
      if (entry.format === 'bool') return [k, bool];
      throw new Error(`config schema: ${group}.${k} has no per-camera check for its format`);
    }),
  );
}

let cameraKeys: Record<string, Check | Record<string, Check>> | undefined;
/** Every key a camera entry may hold, with its check (built on first use: the schema below must exist). */
function cameraKeyChecks(): Record<string, Check | Record<string, Check>> {
  cameraKeys ??= {
    id: (key, v) => {
      if (typeof v !== 'string' || !ID_RE.test(v)) fail(key, v, 'expected 1-64 characters of a-z, A-Z, 0-9, _ or -');
    },
    name: str,
    fps: num(0.1, 240),
    source: {
      type: oneOf(SOURCE_TYPES),
      path: str,
      url: str,
      pipeline: str,
      loop: bool,
      width: num(1, 16384, true),
      height: num(1, 16384, true),
      args: strings,
      interval_ms: ms,
      timeout_ms: num(1, 86_400_000, true),
    },
    detection: overrideChecks('detection'),
    tracking: overrideChecks('tracking'),
    debounce: overrideChecks('debounce'),
    snapshot: overrideChecks('snapshot'),
  };
  return cameraKeys;
}

function checkObject(key: string, v: unknown, checks: Record<string, Check | Record<string, Check>>): void {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(key, v, 'expected an object');
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    const c = Object.hasOwn(checks, k) ? checks[k] : undefined;
    if (!c) {
      const near = nearest(k, Object.keys(checks));
      fail(`${key}.${k}`, val, `unknown key${near ? ` (did you mean ${near}?)` : ''}; allowed: ${Object.keys(checks).join(', ')}`);
    }
    if (typeof c === 'function') c(`${key}.${k}`, val);
    else checkObject(`${key}.${k}`, val, c);
  }
}

/** Validates one camera entry; messages name the exact key, e.g. `cameras[1].source.type`. */
export function validateCamera(c: unknown, i: number): void {
  const k = `cameras[${i}]`;
  checkObject(k, c, cameraKeyChecks());
  const cam = c as Record<string, unknown>;
  if (cam.id === undefined) fail(`${k}.id`, undefined, 'required');
  const s = cam.source as Record<string, unknown> | undefined;
  if (s === undefined || s.type === undefined) fail(`${k}.source.type`, s?.type, `required: one of ${SOURCE_TYPES.join(', ')}`);
  // file/dir without a path play the bundled sample frames (the embedded demo).
  const needs: Partial<Record<SourceType, string>> = { 'http-snapshot': 'url', gstreamer: 'pipeline' };
  const need = needs[s.type as SourceType];
  if (need && (typeof s[need] !== 'string' || (s[need] as string).length === 0)) fail(`${k}.source.${need}`, s[need], `required for source type ${String(s.type)}`);
  if (s.type === 'ffmpeg' && typeof s.path !== 'string' && typeof s.url !== 'string') fail(`${k}.source.path`, s.path, 'ffmpeg needs path (file or /dev/videoN) or url');
}

convict.addFormat({
  name: 'cameras',
  validate(val: unknown) {
    if (!Array.isArray(val) || val.length === 0) throw new Error('expected a non-empty array of cameras');
    val.forEach(validateCamera);
    const ids = val.map((c: CameraConfig) => c.id);
    const dup = ids.find((id, i) => ids.indexOf(id) !== i);
    if (dup) throw new Error(`camera id ${JSON.stringify(dup)} is used twice`);
    // Home Assistant entity ids are lower case with "_": "Door-1" and "door_1" would be one entity.
    const norm = ids.map((id) => id.toLowerCase().replace(/-/g, '_'));
    const clash = norm.findIndex((n, i) => norm.indexOf(n) !== i);
    if (clash >= 0) throw new Error(`camera ids ${JSON.stringify(ids[norm.indexOf(norm[clash]!)])} and ${JSON.stringify(ids[clash])} are the same Home Assistant entity id (${norm[clash]}): rename one`);
  },
  // From the environment the list comes as JSON. Anything but a JSON array stays the string and fails validation
  // naming the key: convict would walk a parsed object's keys as dotted paths (a key "" or "a.b" threw from inside it).
  coerce: (v: unknown) => {
    if (typeof v !== 'string') return v;
    try {
      const parsed = JSON.parse(v) as unknown;
      return Array.isArray(parsed) ? parsed : v;
    } catch {
      return v;
    }
  },
});

const cores = os.cpus().length;

export const schema = {
  agent_id: {
    doc: 'Identifies this agent in MQTT topics and Home Assistant (letters, digits, _ and -).',
    format: (v: unknown) => {
      if (typeof v !== 'string' || !ID_RE.test(v)) throw new Error('expected 1-64 characters of a-z, A-Z, 0-9, _ or -');
    },
    default: (os.hostname().replace(/[^a-zA-Z0-9_-]/g, '-').slice(0, 64) || 'fer-agent') as string,
    env: 'FER_AGENT_ID',
    arg: 'agent-id',
  },
  agent_groups: {
    doc: 'Groups this agent belongs to: `fer-agent model push --to <group>` reaches every agent of the group (letters, digits, _ and -; not "all").',
    format: 'group-list',
    default: [] as string[],
    env: 'FER_AGENT_GROUPS',
  },
  log_level: {
    doc: 'Log level.',
    format: ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'],
    default: 'info',
    env: 'FER_LOG_LEVEL',
    arg: 'log-level',
  },
  engine: {
    doc: 'Inference engine. auto: onnxruntime where its native binary loads, else tfjs-node where installed, else tfjs-wasm.',
    format: [...ENGINES],
    default: 'auto' as EngineName,
    env: 'FER_ENGINE',
    arg: 'engine',
  },
  threads: {
    doc: 'Intra-op threads for inference. Default leaves one core for decoding and the rest of the agent (3 on a 4-core Pi).',
    format: 'nat',
    default: Math.max(1, Math.min(3, cores - 1)),
    env: 'FER_THREADS',
    arg: 'threads',
  },
  model: {
    path: {
      doc: 'Model bundle directory to use when no model has been installed by an update. Empty: the bundled default.',
      format: String,
      default: '',
      env: 'FER_MODEL_PATH',
      arg: 'model',
    },
    state_dir: {
      doc: 'Where pushed models are installed (versions kept for rollback). Empty: no update support, bundle only.',
      format: String,
      default: '',
      env: 'FER_STATE_DIR',
    },
    keep_versions: { doc: 'Installed model versions kept for rollback.', format: 'nat', default: 3 },
    trusted_keys: {
      doc: 'Ed25519 public keys (PEM file paths or base64 raw keys) whose signatures are accepted on pushed models.',
      format: 'string-array',
      default: [] as string[],
      env: 'FER_TRUSTED_KEYS',
    },
    allow_unsigned: { doc: 'Accept pushed bundles without a signature (not recommended).', format: 'bool', default: false },
    max_bundle_bytes: { doc: 'Largest bundle accepted over the network.', format: 'nat', default: 32 * 1024 * 1024 },
    fetch_allow: {
      doc: 'URL prefixes (e.g. https://models.example.org/fer/; a prefix is a folder: .../fer allows .../fer/x, not .../fer-old) that a `fetch` push message or a release may name; the agent downloads from nowhere else, so a broker client cannot make it probe the network. Empty (the default): fetch messages are refused; chunked pushes over MQTT still work.',
      format: 'string-array',
      default: [] as string[],
      env: 'FER_MODEL_FETCH_ALLOW',
    },
    precision: {
      doc: 'Which form of the model runs on onnxruntime: auto (the int8 model where the bundle has one, it picks the float model\'s class on the self-test faces and it is at least 10 % faster on this CPU, measured at the first start and cached in model.state_dir; else float), fp32, or int8 (an error for a bundle without one). The tfjs engines always run the float model.',
      format: ['auto', 'fp32', 'int8'],
      default: 'auto',
      env: 'FER_MODEL_PRECISION',
    },
    flip_tta: {
      doc: "Classify every face as seen and mirrored and average the two: twice the classifier work (the detector's is unchanged). auto: on only where the bundle's Validation figures show a gain for the form that runs, two passes of it cost no more than one float32 pass on this CPU (timed with model.precision auto; docs/model.md), and the bundle's release does not keep it off (manifest runtime.flip_tta off: agent/models/BUNDLE.md); true or false force it.",
      format: 'bool-or-auto',
      default: 'auto' as 'auto' | boolean,
      env: 'FER_FLIP_TTA',
    },
  },
  detection: {
    detector: {
      doc: 'Face detector. auto: CenterFace on onnxruntime, the face-api tiny detector on tfjs engines.',
      format: [...DETECTORS],
      default: 'auto' as DetectorName,
      env: 'FER_DETECTOR',
    },
    precision: {
      doc: 'CenterFace model: int8 runs its int8 quantization (agent/assets/centerface/README.md: the same faces on every x86 class), fp32 the float model, auto the int8 one where it is at least 10 % faster on this CPU at the configured input size (measured at the first start, cached in model.state_dir). Other detectors ignore it.',
      format: ['auto', 'fp32', 'int8'],
      default: 'auto',
      env: 'FER_DETECTOR_PRECISION',
    },
    idle_gating: {
      doc: 'Skip the face detector on frames where nothing moved and no face is being followed (an empty, still room costs little: motion is judged on a small preview decode, and a skipped frame is never decoded in full); the first frame with motion runs it at once.',
      format: 'bool',
      default: true,
      env: 'FER_IDLE_GATING',
    },
    idle_interval_ms: {
      doc: 'With idle gating, still run the detector at least this often (ms), e.g. for a face that entered very slowly.',
      format: 'nat',
      default: 2000,
    },
    max_frame_width: {
      doc: 'Frames wider than this are scaled down as they arrive (aspect kept; 0: never): ffmpeg scales before handing them over, JPEG sources are decoded and resized in one step, raw frames are resized once. Off by default: for a 1080p JPEG camera, decoding at 960 costs sharp as much as it saves the detector (docs/benchmarks-and-reliability.md).',
      format: 'nat',
      default: 0,
    },
    follow_regions: {
      doc: 'While faces are followed, CenterFace searches only a square around each one (twice its size, resized to region_input) instead of the whole frame: a tenth of the input pixels per face, about a fifth of the detection time (docs/benchmarks-and-reliability.md). The whole frame is still searched every full_interval_ms, whenever a followed face was missed, and at once when a region comes back without its face.',
      format: 'bool',
      default: true,
      env: 'FER_FOLLOW_REGIONS',
    },
    full_interval_ms: {
      doc: 'With follow_regions, search the whole frame at least this often (ms): the longest a second person who appears while another is followed waits to be found (0: every frame).',
      format: 'nat',
      default: 500,
    },
    region_input: {
      doc: 'With follow_regions, the detector input side of each region (pixels, rounded up to a multiple of 32); the followed face fills about half of it.',
      format: 'nat',
      default: 128,
    },
    roll_align: {
      doc: "Turn each face's crop so its eyes are level before classifying, when the detector gives eye landmarks (CenterFace; face-api's detectors do not) and the head is tilted by roll_align_min_deg (10) to 50 degrees (smaller tilts the net absorbs; past 50 the landmarks are more likely wrong): the expression net loses accuracy on heads tilted past about 12 degrees (docs/model.md, \"Tilted heads\").",
      format: 'bool',
      default: true,
      env: 'FER_ROLL_ALIGN',
    },
    roll_align_min_deg: {
      doc: 'With roll_align, only faces tilted by at least this many degrees are turned (0: every face with landmarks). 10 was chosen on generated Validation frames: turning smaller tilts, which the net absorbs, cost accuracy on upright faces (docs/model.md, "Tilted heads").',
      format: 'nat',
      default: 10,
    },
    // 480x352 and 0.3 come from the recall/cost curve on generated frames (docs/model.md, "Accuracy on whole frames"):
    // 79% of faces found vs 47% at the old 320x256/0.5, for about the old CPU cost once CenterFace runs in int8.
    input_width: { doc: 'Detector input width (CenterFace: rounded up to a multiple of 32). Larger finds smaller faces for more CPU (README: the recall/cost curve).', format: 'nat', default: 480 },
    input_height: { doc: 'Detector input height (CenterFace: rounded up to a multiple of 32).', format: 'nat', default: 352 },
    min_face_px: { doc: 'Faces smaller than this (frame pixels, shorter side) are ignored.', format: 'nat', default: 24 },
    score_threshold: { doc: "Minimum CenterFace score for a face, on the float model's scale (the int8 model applies it mapped to its own by input size, 0.3 -> 0.201 at 480x352; 0.3: 5-6 false detections over 700 generated frames; docs/model.md).", format: 'unit', default: 0.3 },
    faceapi_score_threshold: { doc: "Minimum score for face-api's tiny and SSD detectors (tfjs engines): their scores run higher on non-faces than CenterFace's (at 0.3 tiny takes a shoulder in the astronaut sample for a face).", format: 'unit', default: 0.5 },
    nms_iou: { doc: 'Overlap above which two detections are the same face.', format: 'unit', default: 0.4 },
    max_faces: { doc: 'At most this many faces per frame are classified (largest first).', format: 'nat', default: 8 },
  },
  tracking: {
    iou_threshold: { doc: 'Minimum box overlap for a detection to continue a track.', format: 'unit', default: 0.3 },
    max_missed_frames: { doc: 'A track survives this many frames without a matching detection.', format: 'nat', default: 5 },
    smoothing: { doc: 'Weight of the newest frame in the per-track moving average of probabilities (0-1].', format: 'unit', default: 0.4 },
  },
  debounce: {
    min_confidence: { doc: 'An emotion must stay above this smoothed probability to become the state.', format: 'unit', default: 0.5 },
    min_duration_ms: { doc: 'How long an emotion must hold before it becomes the state and an event fires.', format: 'nat', default: 1000 },
    hysteresis: { doc: 'The current state is kept until it drops below min_confidence minus this.', format: 'unit', default: 0.1 },
    cooldown_ms: { doc: 'Minimum time between two emotion events of one track.', format: 'nat', default: 3000 },
    absence_timeout_ms: { doc: 'A track not seen for this long raises face_lost.', format: 'nat', default: 2000 },
  },
  snapshot: {
    enabled: { doc: 'Publish one JPEG per debounced emotion event to <base>/<agent>/<camera>/snapshot (a Home Assistant image entity, for notifications with a picture). Off by default: no image leaves the device unless this is on (per camera: cameras[].snapshot.enabled). Nothing is written to disk.', format: 'bool', default: false },
    kind: { doc: 'face: the face that changed, with a margin; frame: the whole frame with every face boxed.', format: ['face', 'frame'], default: 'face' },
    max_width: { doc: 'The picture is scaled down to at most this width (pixels).', format: 'nat', default: 640 },
    quality: { doc: 'JPEG quality (1-100).', format: 'nat', default: 80 },
    max_bytes: { doc: 'A picture larger than this is re-encoded smaller until it fits, or not sent (bytes).', format: 'nat', default: 200_000 },
  },
  cameras: {
    doc: 'Cameras served by this agent: [{id, name?, source: {type, path|url|pipeline, loop?, width?, height?, args?, interval_ms?, timeout_ms?}, fps, detection?, tracking?, debounce?, snapshot?}]. Per-camera detection/tracking/debounce/snapshot keys override the global ones.',
    format: 'cameras',
    default: [
      { id: 'demo', name: 'Demo frames', source: { type: 'dir', path: '', loop: true }, fps: 5 },
    ] as CameraConfig[],
    env: 'FER_CAMERAS',
  },
  sinks: {
    stdout: {
      enabled: { doc: 'Print events on stdout (pretty on a terminal, JSON lines otherwise).', format: 'bool', default: true, env: 'FER_STDOUT' },
    },
    jsonl: {
      path: { doc: 'Append events as JSON lines to this file. Empty: off.', format: String, default: '', env: 'FER_JSONL' },
    },
  },
  mqtt: {
    url: {
      doc: "Broker URL (mqtt://, mqtts://, ws://). 'embedded': run a broker inside the agent on embedded_port. Empty: no MQTT.",
      format: String,
      default: 'embedded',
      env: 'FER_MQTT_URL',
      arg: 'mqtt-url',
    },
    embedded_host: { doc: 'Address the embedded broker listens on.', format: String, default: '127.0.0.1' },
    embedded_port: { doc: 'Port of the embedded broker.', format: 'port', default: 1883, env: 'FER_MQTT_EMBEDDED_PORT' },
    username: { doc: 'Broker user name.', format: String, default: '', env: 'FER_MQTT_USERNAME' },
    password: { doc: 'Broker password (prefer password_file).', format: String, default: '', env: 'FER_MQTT_PASSWORD', sensitive: true },
    password_file: { doc: 'File holding the broker password.', format: String, default: '', env: 'FER_MQTT_PASSWORD_FILE' },
    client_id: { doc: 'MQTT client id. Empty: fer-<agent_id>.', format: String, default: '' },
    keepalive_s: { doc: 'MQTT keepalive (s).', format: 'nat', default: 30 },
    base_topic: {
      doc: 'Topic prefix: <base>/<agent_id>/... (topic levels without +, # or empty levels).',
      // The same rule run applies when it builds topics, so `fer-agent config` cannot accept what `run` refuses.
      format: (v: unknown) => {
        if (typeof v !== 'string' || v.length === 0 || v.split('/').some((s) => !/^[^+#/\u0000]+$/.test(s))) {
          throw new Error('expected topic levels without +, # or empty levels, e.g. "fer"');
        }
      },
      default: 'fer',
      env: 'FER_MQTT_BASE',
    },
    ca_file: { doc: 'CA certificate (PEM) for TLS.', format: String, default: '' },
    cert_file: { doc: 'Client certificate (PEM) for TLS.', format: String, default: '' },
    key_file: { doc: 'Client key (PEM) for TLS.', format: String, default: '' },
    reject_unauthorized: { doc: 'Verify the broker certificate.', format: 'bool', default: true },
    event_max_age_s: { doc: 'Events raised while offline are delivered after reconnect only if younger than this.', format: 'nat', default: 60 },
    offline_queue_max: { doc: 'At most this many events wait while the broker is away (oldest dropped first).', format: 'nat', default: 100 },
  },
  homeassistant: {
    discovery: { doc: 'Publish Home Assistant MQTT discovery.', format: 'bool', default: true, env: 'FER_HA_DISCOVERY' },
    prefix: { doc: 'Home Assistant discovery prefix.', format: String, default: 'homeassistant' },
    legacy_discovery: { doc: 'One config topic per entity (Home Assistant before 2024.11) instead of device-based discovery.', format: 'bool', default: false },
    websocket_url: { doc: 'Home Assistant URL for the websocket sink (fires fer_emotion events). Empty: off.', format: String, default: '', env: 'FER_HA_URL' },
    token: { doc: 'Home Assistant long-lived access token (prefer token_file).', format: String, default: '', env: 'FER_HA_TOKEN', sensitive: true },
    token_file: { doc: 'File holding the Home Assistant token.', format: String, default: '', env: 'FER_HA_TOKEN_FILE' },
  },
  health: {
    port: { doc: 'Port for /healthz and /metrics on health.host. 0: off.', format: 'port', default: 0, env: 'FER_HEALTH_PORT' },
    host: { doc: 'Address for the health endpoint.', format: String, default: '127.0.0.1' },
  },
  web: {
    enabled: { doc: 'Serve the live view (frames with boxes). Off by default: no image leaves the device unless this is on.', format: 'bool', default: false, env: 'FER_WEB' },
    host: { doc: 'Address the live view binds to.', format: String, default: '127.0.0.1' },
    port: { doc: 'Port of the live view.', format: 'port', default: 8090, env: 'FER_WEB_PORT' },
    token: { doc: 'If set, the live view asks for ?token=.', format: String, default: '', env: 'FER_WEB_TOKEN', sensitive: true },
  },
};

// The global number keys take their format from LIMITS, so they cannot drift from the per-camera checks.
for (const [group, limits] of Object.entries(LIMITS)) {
  const node = (group === 'top' ? schema : (schema as Record<string, unknown>)[group]) as Record<string, { format: unknown }>;
  for (const [key, limit] of Object.entries(limits)) {
    if (!node[key]) throw new Error(`LIMITS.${group}.${key} is not a schema key`);
    node[key].format = rangeFormat(limit);
  }
}
