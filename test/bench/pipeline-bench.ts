/**
 * Pipeline benchmark (child process, one detector/engine configuration): 640x480 JPEG frames with 0, 1 and 3
 * faces, each decoded with the agent's decodeFrame and run through CameraPipeline.process back to back (a camera
 * that delivers a new frame the moment the last one is done). Measures frames/s, capture → result/event latency,
 * CPU time per frame and peak RSS; with a broker URL the agent's MQTT publisher runs too, and the parent measures
 * capture → message received from the broker. The `faceapi-baseline` configuration runs face-api.js's own
 * detectAllFaces(TinyFaceDetector).withFaceExpressions() on the same decoded frames instead.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { loadConfig, resolveCameras, type ResolvedCamera } from '../../agent/config/load.js';
import type { EngineName, DetectorName } from '../../agent/config/schema.js';
import { Bus } from '../../agent/core/bus.js';
import { systemClock } from '../../agent/core/clock.js';
import { createLogger } from '../../agent/core/log.js';
import type { Logger } from '../../agent/core/log.js';
import type { AgentControl, EmotionEvent } from '../../agent/core/types.js';
import { startMqtt, type MqttHandle } from '../../agent/pipeline/mqtt.js';
import { CameraPipeline } from '../../agent/pipeline/camera-pipeline.js';
import { setupClassifier } from '../../agent/pipeline/classifier-setup.js';
import { ModelSlot } from '../../agent/pipeline/model-slot.js';
import { decodeFrame } from '../../agent/sources/decode.js';
import { stageEncoded, type StagedFrame } from '../../agent/sources/staged-frame.js';
import { createDetector } from '../../agent/vision/create-detector.js';
import type { FaceDetector } from '../../agent/vision/face-detector.js';
import { defaultFaceApiModelDir } from '../../agent/vision/faceapi-detector.js';
import { childMain } from './child.js';
import { ManualClock } from '../helpers/clock.js';
import { loadFaceApi } from './classifiers.js';
import { HD_MAX_WIDTH, PACED_FPS, summarize, type LatencySummary } from './stats.js';

export interface PipelineConfigSpec {
  id: string;
  label: string;
  engine: EngineName;
  detector: DetectorName | 'faceapi-baseline';
  /** Intra-op threads; default: the agent's default (cores - 1, at most 3). */
  threads?: number;
  /** Config keys set for this configuration (dotted). */
  overrides?: Record<string, unknown>;
}

export const PIPELINE_CONFIGS: readonly PipelineConfigSpec[] = [
  { id: 'centerface-onnxruntime', label: 'fer-edge default: CenterFace int8 480x352 + classifier (model.precision auto), idle gating, onnxruntime', engine: 'onnxruntime', detector: 'centerface' },
  // The default leaves a core for decoding (right on a 4-core Pi); on this 2-core box that means one thread.
  { id: 'centerface-onnxruntime-2t', label: 'the same, threads 2', engine: 'onnxruntime', detector: 'centerface', threads: 2 },
  // Follow regions off: every frame searched whole (the default before follow regions), for the side-by-side ratio.
  { id: 'centerface-onnxruntime-whole', label: 'the default without follow regions (detection.follow_regions false)', engine: 'onnxruntime', detector: 'centerface', overrides: { 'detection.follow_regions': false } },
  // The defaults before int8 and the frame-set measurement, for the side-by-side ratio.
  {
    id: 'centerface-onnxruntime-fp32-320', label: 'previous default: CenterFace fp32 320x256 + fp32 classifier, no idle gating', engine: 'onnxruntime', detector: 'centerface',
    overrides: { 'detection.precision': 'fp32', 'model.precision': 'fp32', 'detection.input_width': 320, 'detection.input_height': 256, 'detection.score_threshold': 0.5, 'detection.idle_gating': false, 'detection.follow_regions': false, 'detection.roll_align': false },
  },
  { id: 'tiny-tfjs-wasm', label: 'fer-edge: face-api tiny 320 + classifier, tfjs-wasm', engine: 'tfjs-wasm', detector: 'tiny' },
  { id: 'ssd-tfjs-wasm', label: 'fer-edge: face-api SSD MobileNet v1 + classifier, tfjs-wasm', engine: 'tfjs-wasm', detector: 'ssd' },
  { id: 'faceapi-baseline', label: 'face-api.js own pipeline: detectAllFaces(tiny 416).withFaceExpressions(), tfjs-wasm', engine: 'tfjs-wasm', detector: 'faceapi-baseline' },
];

export interface PipelineBenchOptions {
  config: string;
  /** Folder with one subfolder per face count (0, 1, 3) of JPEGs. */
  framesDir: string;
  faceCounts: number[];
  warmupFrames: number;
  maxFrames: number;
  minFrames: number;
  seconds: number;
  /** Broker to publish to (the agent's MQTT code, state on every change); empty: no MQTT. */
  mqttUrl: string;
  agentId: string;
  /** A person appears after this many seconds of a still, empty room, at 10 frames/s in real time (0: skip). */
  appearAfterS?: number;
}

/** How long after the first frame with the face its first emotion event came (CenterFace configurations). */
export interface AppearResult {
  appearAfterS: number;
  fps: number;
  /** First frame with the face → its first emotion event on the bus; null if none came within 5 s. */
  latencyMs: number | null;
  /** The part of it that is debouncing by design (debounce.min_duration_ms). */
  minDurationMs: number;
}

export interface PipelineSetResult {
  faces: number;
  /**
   * 'still': one empty frame over and over (an empty, static room), where idle gating skips the detector, deciding
   * on a shrink-on-load preview as the agent does; 'still-full': the same, each frame decoded in full first;
   * 'paced': the set's frames on a camera clock of PACED_FPS (processed back to back, but the agent's clock and the
   * frames' timestamps advance 1/PACED_FPS s per frame), so the full searches every detection.full_interval_ms cost
   * what they cost at a real camera's pace; read its CPU per frame, not its frames/s;
   * 'hd' / 'hd-full': the one-face frames as a 1920x1080 camera sends them, decoded at HD_MAX_WIDTH
   * (detection.max_frame_width 960) or at full size.
   */
  scene?: 'still' | 'still-full' | 'paced' | 'hd' | 'hd-full';
  cameraId: string;
  frames: number;
  seconds: number;
  fps: number;
  /** Mean faces found per frame (checks that the detector sees what the set holds). */
  facesFound: number;
  /** capture (before JPEG decode) → FrameResult and its events emitted on the bus, ms. */
  latencyMs: LatencySummary;
  decodeMsP50: number;
  detectMsP50: number;
  classifyMsP50: number;
  cpuMsPerFrame: number;
  /** Share of frames on which the detector searched only follow regions. */
  regionShare: number;
  events: number;
  /** Wall-clock window (ms since epoch, fractional) of the timed frames, to match MQTT messages. */
  windowWall: [number, number];
  rssAfterMiB: number;
}

export interface PipelineBenchResult {
  config: string;
  label: string;
  engine: string;
  detector: string;
  threads: number;
  mqtt: boolean;
  loadSeconds: number;
  sets: PipelineSetResult[];
  appear?: AppearResult;
  peakRssMiB: number;
}

const wallNow = (): number => performance.timeOrigin + performance.now();
const MiB = 1024 * 1024;

async function readSet(dir: string): Promise<Buffer[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.jpg')).sort();
  return Promise.all(names.map((n) => readFile(path.join(dir, n))));
}

interface FrameStep {
  faces: number;
  /** The detector searched follow regions only. */
  regions?: boolean;
  decodeMs: number;
  detectMs: number;
  classifyMs: number;
}

/** One frame's work; the frame comes undecoded, as the agent's feed hands it out (decode it in full, or stage it). */
type Step = (frame: StagedFrame) => Promise<Omit<FrameStep, 'decodeMs'>>;

async function runSet(o: PipelineBenchOptions, faces: number, cameraId: string, jpegs: Buffer[], step: Step, events: () => number, maxWidth?: number): Promise<PipelineSetResult> {
  let seq = 0;
  const one = async (): Promise<{ latency: number } & FrameStep> => {
    const capMono = performance.now();
    const staged = stageEncoded(cameraId, { seq, monoMs: capMono, wallMs: performance.timeOrigin + capMono, bytes: jpegs[seq % jpegs.length]! }, { maxWidth });
    seq++;
    const r = await step(staged);
    return { latency: performance.now() - capMono, decodeMs: staged.decodeMs(), ...r };
  };
  for (let i = 0; i < o.warmupFrames; i++) await one();
  const ev0 = events();
  const lat: number[] = [];
  const dec: number[] = [];
  const det: number[] = [];
  const cls: number[] = [];
  let found = 0;
  let regions = 0;
  const cpu0 = process.cpuUsage();
  const wall0 = wallNow();
  const t0 = performance.now();
  while (lat.length < o.minFrames || (lat.length < o.maxFrames && performance.now() - t0 < o.seconds * 1000)) {
    const r = await one();
    lat.push(r.latency);
    dec.push(r.decodeMs);
    det.push(r.detectMs);
    cls.push(r.classifyMs);
    found += r.faces;
    if (r.regions) regions++;
  }
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    faces,
    cameraId,
    frames: lat.length,
    seconds,
    fps: lat.length / seconds,
    facesFound: found / lat.length,
    latencyMs: summarize(lat),
    decodeMsP50: summarize(dec).p50,
    detectMsP50: summarize(det).p50,
    classifyMsP50: summarize(cls).p50,
    cpuMsPerFrame: (cpu.user + cpu.system) / 1000 / lat.length,
    regionShare: regions / lat.length,
    events: events() - ev0,
    windowWall: [wall0, wallNow()],
    rssAfterMiB: process.memoryUsage().rss / MiB,
  };
}

const control = (ids: string[]): AgentControl => ({ cameraIds: () => ids, isPaused: () => false, setPaused: () => {}, republishState: () => {} });

async function runAgentConfig(o: PipelineBenchOptions, spec: PipelineConfigSpec, sets: Record<number, Buffer[]>): Promise<PipelineBenchResult> {
  const t0 = performance.now();
  const ids = o.faceCounts.map((n) => `faces${n}`);
  const cfg = loadConfig({
    skipDefaultFile: true,
    env: {},
    overrides: {
      agent_id: o.agentId,
      engine: spec.engine,
      'detection.detector': spec.detector,
      ...(spec.threads ? { threads: spec.threads } : {}),
      ...spec.overrides,
      'mqtt.url': o.mqttUrl,
      'homeassistant.discovery': false,
      'sinks.stdout.enabled': false,
      cameras: ids.map((id) => ({ id, source: { type: 'dir', path: o.framesDir }, fps: 240 })),
    },
  });
  const log = createLogger(process.env.FER_LOG_LEVEL ?? 'warn', false);
  const loaded = await setupClassifier(cfg, cfg.model.path, log);
  const slot = new ModelSlot(loaded.classifier);
  const bus = new Bus();
  const cams = resolveCameras(cfg);
  // One camera's detector, shared by the three sets (they run one after another, as one camera would).
  const detector = await createDetector(cams[0]!.detection, loaded.choice.engine, cfg.threads, log);
  let mqtt: MqttHandle | undefined;
  if (o.mqttUrl) {
    mqtt = await startMqtt({ cfg, bus, control: control(ids), log, cameras: cams.map((c) => ({ id: c.id, name: c.name })), labels: loaded.classifier.labels, stateMinIntervalMs: 0 });
    await mqtt.whenConnected(10_000);
  }
  let events = 0;
  bus.on('event', () => events++);
  const loadSeconds = (performance.now() - t0) / 1000;
  const results: PipelineSetResult[] = [];
  let appear: AppearResult | undefined;
  try {
    for (const [i, faces] of o.faceCounts.entries()) {
      const pipeline = new CameraPipeline({ camera: cams[i]!, feed: { next: async () => null }, detector, models: slot, bus, clock: systemClock, log });
      results.push(
        await runSet(o, faces, cams[i]!.id, sets[faces]!, async (s) => {
          const r = await pipeline.process(await s.full());
          return { faces: r.faces.length, regions: Boolean(r.detectorRegions), detectMs: r.timings.detectMs, classifyMs: r.timings.classifyMs };
        }, () => events),
      );
    }
    if (spec.detector === 'centerface') {
      for (const [i, faces] of o.faceCounts.entries()) {
        if (faces === 0) continue;
        const clock = new ManualClock();
        const paced = new CameraPipeline({ camera: cams[i]!, feed: { next: async () => null }, detector, models: slot, bus, clock, log });
        const r = await runSet(o, faces, cams[i]!.id, sets[faces]!, async (s) => {
          clock.advance(1000 / PACED_FPS);
          const res = await paced.process({ ...(await s.full()), monoMs: clock.mono(), wallMs: clock.wall() });
          return { faces: res.faces.length, regions: Boolean(res.detectorRegions), detectMs: res.timings.detectMs, classifyMs: res.timings.classifyMs };
        }, () => events);
        results.push({ ...r, scene: 'paced' });
      }
    }
    if (spec.id === 'centerface-onnxruntime' && sets[1]?.length) {
      const hd = await Promise.all(sets[1].map((j) => sharp(j).resize(1920, 1080, { fit: 'fill' }).jpeg({ quality: 85 }).toBuffer()));
      const cam = cams[o.faceCounts.indexOf(1)] ?? cams[0]!;
      for (const [scene, maxWidth] of [['hd', HD_MAX_WIDTH], ['hd-full', undefined]] as const) {
        const p = new CameraPipeline({ camera: cam, feed: { next: async () => null }, detector, models: slot, bus, clock: systemClock, log });
        const r = await runSet(o, 1, cam.id, hd, async (s) => {
          const res = await p.process(await s.full());
          return { faces: res.faces.length, regions: Boolean(res.detectorRegions), detectMs: res.timings.detectMs, classifyMs: res.timings.classifyMs };
        }, () => events, maxWidth);
        results.push({ ...r, scene });
      }
    }
    if (spec.detector === 'centerface' && o.faceCounts.includes(0)) {
      // An empty, static room: the first empty frame over and over, through a fresh pipeline (idle gating state);
      // 'still' as the agent runs it (the gate decides on a preview), 'still-full' decoding every frame in full first.
      for (const scene of ['still', 'still-full'] as const) {
        const still = new CameraPipeline({ camera: cams[0]!, feed: { next: async () => null }, detector, models: slot, bus, clock: systemClock, log });
        const r = await runSet(o, 0, cams[0]!.id, [sets[0]![0]!], async (s) => {
          const res = scene === 'still' ? await still.processStaged(s) : await still.process(await s.full());
          return { faces: res.faces.length, detectMs: res.timings.detectMs, classifyMs: res.timings.classifyMs };
        }, () => events);
        results.push({ ...r, scene });
      }
    }
    if (spec.detector === 'centerface' && o.appearAfterS && sets[0]?.length && sets[1]?.length) appear = await personAppears(o.appearAfterS, cams[0]!, sets, { detector, slot, bus, log });
  } finally {
    await mqtt?.stop();
    await detector.dispose();
    await slot.dispose();
  }
  return { config: spec.id, label: spec.label, engine: loaded.choice.engine, detector: detector.name, threads: cfg.threads, mqtt: mqtt !== undefined, loadSeconds, sets: results, ...(appear ? { appear } : {}), peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

/**
 * A still, empty room (the first empty frame, where idle gating skips the detector) at 10 frames/s in real time,
 * then the one-face frames: the first frame with the face must run the detector at once, so its first event comes
 * debounce.min_duration_ms plus about one frame later.
 */
async function personAppears(afterS: number, camera: ResolvedCamera, sets: Record<number, Buffer[]>, d: { detector: FaceDetector; slot: ModelSlot; bus: Bus; log: Logger }): Promise<AppearResult> {
  const fps = 10;
  const pipeline = new CameraPipeline({ camera, feed: { next: async () => null }, detector: d.detector, models: d.slot, bus: d.bus, clock: systemClock, log: d.log });
  let firstFace: number | undefined;
  let event: number | undefined;
  const onEvent = (e: EmotionEvent): void => {
    if (event === undefined && firstFace !== undefined && e.cameraId === camera.id && e.eventType !== 'face_lost') event = performance.now();
  };
  d.bus.on('event', onEvent);
  try {
    const t0 = performance.now();
    for (let i = 0; event === undefined && performance.now() - t0 < (afterS + 5) * 1000; i++) {
      const face = performance.now() - t0 >= afterS * 1000;
      const cap = performance.now();
      if (face && firstFace === undefined) firstFace = cap;
      const bytes = face ? sets[1]![i % sets[1]!.length]! : sets[0]![0]!;
      await pipeline.process(await decodeFrame(camera.id, { seq: i, monoMs: cap, wallMs: performance.timeOrigin + cap, bytes }));
      const wait = t0 + ((i + 1) * 1000) / fps - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } finally {
    d.bus.off('event', onEvent);
  }
  return { appearAfterS: afterS, fps, latencyMs: event !== undefined && firstFace !== undefined ? event - firstFace : null, minDurationMs: camera.debounce.min_duration_ms };
}

async function runFaceApiBaseline(o: PipelineBenchOptions, spec: PipelineConfigSpec, sets: Record<number, Buffer[]>): Promise<PipelineBenchResult> {
  const t0 = performance.now();
  const threads = loadConfig({ skipDefaultFile: true, env: {} }).threads;
  const faceapi = await loadFaceApi(threads);
  const dir = defaultFaceApiModelDir();
  await faceapi.nets.tinyFaceDetector.loadFromDisk(dir);
  await faceapi.nets.faceExpressionNet.loadFromDisk(dir);
  const tf = faceapi.tf;
  // face-api's defaults: inputSize 416, scoreThreshold 0.5.
  const options = new faceapi.TinyFaceDetectorOptions();
  const loadSeconds = (performance.now() - t0) / 1000;
  const results: PipelineSetResult[] = [];
  for (const faces of o.faceCounts) {
    results.push(
      await runSet(o, faces, `faces${faces}`, sets[faces]!, async (s) => {
        const frame = await s.full();
        const input = tf.tensor3d(frame.data, [frame.height, frame.width, frame.channels], 'int32');
        try {
          const found = await faceapi.detectAllFaces(input, options).withFaceExpressions();
          return { faces: found.length, detectMs: NaN, classifyMs: NaN };
        } finally {
          input.dispose();
        }
      }, () => 0),
    );
  }
  faceapi.nets.tinyFaceDetector.dispose();
  faceapi.nets.faceExpressionNet.dispose();
  return { config: spec.id, label: spec.label, engine: 'tfjs-wasm', detector: 'face-api tiny 416', threads, mqtt: false, loadSeconds, sets: results, peakRssMiB: process.resourceUsage().maxRSS / 1024 };
}

export async function runPipelineBench(o: PipelineBenchOptions): Promise<PipelineBenchResult> {
  const spec = PIPELINE_CONFIGS.find((c) => c.id === o.config);
  if (!spec) throw new Error(`unknown pipeline config ${o.config}; known: ${PIPELINE_CONFIGS.map((c) => c.id).join(', ')}`);
  const sets: Record<number, Buffer[]> = {};
  for (const n of o.faceCounts) sets[n] = await readSet(path.join(o.framesDir, String(n)));
  return spec.detector === 'faceapi-baseline' ? runFaceApiBaseline(o, spec, sets) : runAgentConfig(o, spec, sets);
}

childMain(import.meta.url, runPipelineBench);
