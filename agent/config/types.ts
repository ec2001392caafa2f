/** The configuration's types: what `loadConfig` returns, camera by camera (schema.ts holds the keys and their checks). */
/** Sources a camera can read from. */
export const SOURCE_TYPES = ['file', 'dir', 'ffmpeg', 'rpicam', 'raspistill', 'gstreamer', 'http-snapshot'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];

export const ENGINES = ['auto', 'onnxruntime', 'tfjs-node', 'tfjs-wasm'] as const;
export type EngineName = (typeof ENGINES)[number];

export const DETECTORS = ['auto', 'centerface', 'tiny', 'ssd'] as const;
export type DetectorName = (typeof DETECTORS)[number];

/** Which form of the ONNX model runs: `int8` where the bundle has one (onnxruntime only), else `fp32`. */
export type Precision = 'fp32' | 'int8';
export type PrecisionSetting = 'auto' | Precision;

export interface SourceConfig {
  type: SourceType;
  /** file: an image; dir: a folder of images; ffmpeg: file path, URL or /dev/videoN. */
  path?: string;
  url?: string;
  /** gstreamer: a pipeline ending in a JPEG encoder, or one whose output we append `jpegenc ! fdsink` to. */
  pipeline?: string;
  loop?: boolean;
  width?: number;
  height?: number;
  /** Extra arguments passed before `-i` (ffmpeg), or to rpicam-vid. */
  args?: string[];
  /** http-snapshot poll interval; file/dir/raspistill: time between images (default 1000/fps). */
  interval_ms?: number;
  /** http-snapshot: a request (or an MJPEG stream going silent) fails after this long (default 5000). */
  timeout_ms?: number;
}

export interface DetectionConfig {
  detector: DetectorName;
  /** CenterFace only: the int8 model (auto, int8) or the float one. */
  precision: PrecisionSetting;
  /** Skip the detector on still frames with no face being followed (vision/motion-gate.ts). */
  idle_gating: boolean;
  /** ... but run it at least this often (ms). */
  idle_interval_ms: number;
  /** Frames wider than this are scaled down as they arrive (0: never). */
  max_frame_width: number;
  /** While faces are followed, search only around them (vision/region-plan.ts); CenterFace only. */
  follow_regions: boolean;
  /** ... but search the whole frame at least this often (ms). */
  full_interval_ms: number;
  /** Detector input side of each follow region (pixels, rounded up to a multiple of 32). */
  region_input: number;
  /** Turn each face's crop by its head roll (from the detector's eye landmarks) before classifying (vision/face-roll.ts). */
  roll_align: boolean;
  /** ... only for tilts of at least this many degrees. */
  roll_align_min_deg: number;
  input_width: number;
  input_height: number;
  min_face_px: number;
  score_threshold: number;
  /** The same for face-api's tiny and SSD detectors (tfjs engines), whose scores are not CenterFace's. */
  faceapi_score_threshold: number;
  nms_iou: number;
  max_faces: number;
}

export interface TrackingConfig {
  iou_threshold: number;
  max_missed_frames: number;
  smoothing: number;
}

export interface DebounceConfig {
  min_confidence: number;
  min_duration_ms: number;
  hysteresis: number;
  cooldown_ms: number;
  absence_timeout_ms: number;
}

/** Opt-in pictures for notifications: one JPEG per debounced emotion event, published to MQTT only (never disk). */
export interface SnapshotConfig {
  enabled: boolean;
  /** face: the face with a margin; frame: the whole frame with the faces boxed. */
  kind: 'face' | 'frame';
  max_width: number;
  quality: number;
  max_bytes: number;
}

export interface CameraConfig {
  id: string;
  name?: string;
  source: SourceConfig;
  fps: number;
  detection?: Partial<DetectionConfig>;
  tracking?: Partial<TrackingConfig>;
  debounce?: Partial<DebounceConfig>;
  snapshot?: Partial<SnapshotConfig>;
}

export type AgentConfig = {
  agent_id: string;
  agent_groups: string[];
  log_level: string;
  engine: EngineName;
  threads: number;
  model: { path: string; state_dir: string; keep_versions: number; trusted_keys: string[]; allow_unsigned: boolean; max_bundle_bytes: number; fetch_allow: string[]; precision: PrecisionSetting; flip_tta: 'auto' | boolean };
  detection: DetectionConfig;
  tracking: TrackingConfig;
  debounce: DebounceConfig;
  snapshot: SnapshotConfig;
  cameras: CameraConfig[];
  sinks: { stdout: { enabled: boolean }; jsonl: { path: string } };
  mqtt: {
    url: string; embedded_host: string; embedded_port: number; username: string; password: string; password_file: string;
    client_id: string; keepalive_s: number; base_topic: string; ca_file: string; cert_file: string; key_file: string;
    reject_unauthorized: boolean; event_max_age_s: number; offline_queue_max: number;
  };
  homeassistant: { discovery: boolean; prefix: string; legacy_discovery: boolean; websocket_url: string; token: string; token_file: string };
  health: { port: number; host: string };
  web: { enabled: boolean; host: string; port: number; token: string };
};
