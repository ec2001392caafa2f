/**
 * Face detection on the tfjs engines with @vladmandic/face-api: the tiny face detector (default) or SSD MobileNet v1.
 *
 * Build choice: face-api's `dist/face-api.node-wasm.js` is the one that runs on @tensorflow/tfjs-backend-wasm. It
 * `require`s the umbrella `@tensorflow/tfjs` package, which is therefore a dependency (same 4.22.0 as our
 * tfjs-core, so npm dedupes and face-api shares the process's single tfjs engine and backend with the expression
 * classifier). The ESM bundles either carry their own tfjs copy (face-api.esm.js: a second engine fighting over the
 * same global registry) or import tfjs-backend-webgl (esm-nobundle), so they are not used.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import type * as FaceApiModule from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import type { DetectionConfig } from '../config/schema.js';
import { FerError, errorMessage } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/log.js';
import type { DetectedFace, Frame } from '../core/types.js';
import { frameProblem, selectFaces, type FaceDetector } from './face-detector.js';
import { clipBox, roundUpTo } from './letterbox.js';

export type FaceApiModel = 'tiny' | 'ssd';

export interface FaceApiOptions {
  detection: DetectionConfig;
  /** Default 'tiny'. */
  model?: FaceApiModel;
  /** tfjs backend to run on ('wasm', 'cpu', 'tensorflow'); default: the active one, else tfjs's own choice. */
  backend?: string;
  /** Folder with the face-api weight manifests; default node_modules/@vladmandic/face-api/model. */
  modelDir?: string;
  logger?: Logger;
}

type FaceApi = typeof FaceApiModule;
type Net = FaceApi['nets']['tinyFaceDetector'] | FaceApi['nets']['ssdMobilenetv1'];

const require = createRequire(import.meta.url);

/** face-api's nets are module singletons: load once, dispose when the last detector using them goes. */
const netUsers = new Map<Net, number>();

async function loadFaceApi(): Promise<FaceApi> {
  try {
    const mod = (await import('@vladmandic/face-api/dist/face-api.node-wasm.js')) as FaceApi & { default?: FaceApi };
    return mod.default ?? mod;
  } catch (err) {
    throw new FerError('engine_unavailable', `@vladmandic/face-api (node-wasm build) cannot be loaded: ${errorMessage(err)}`, { cause: err });
  }
}

export function defaultFaceApiModelDir(): string {
  return path.join(path.dirname(require.resolve('@vladmandic/face-api/package.json')), 'model');
}

export async function createFaceApiDetector(opts: FaceApiOptions): Promise<FaceDetector> {
  const faceapi = await loadFaceApi();
  // Backend control through tfjs-core: the same (deduplicated) engine face-api runs on; its bundled typings omit it.
  const tf = await import('@tensorflow/tfjs-core');
  const log = opts.logger ?? silentLogger;
  if (opts.backend && tf.getBackend() !== opts.backend) {
    let ok = false;
    try {
      ok = await tf.setBackend(opts.backend);
    } catch (err) {
      throw new FerError('engine_unavailable', `tfjs backend ${opts.backend} cannot be started: ${errorMessage(err)}`, { cause: err });
    }
    if (!ok) throw new FerError('engine_unavailable', `tfjs backend ${opts.backend} cannot be started`);
  }
  await tf.ready();

  const model = opts.model ?? 'tiny';
  const net: Net = model === 'ssd' ? faceapi.nets.ssdMobilenetv1 : faceapi.nets.tinyFaceDetector;
  const modelDir = opts.modelDir ?? defaultFaceApiModelDir();
  if (!net.isLoaded) {
    try {
      await net.loadFromDisk(modelDir);
    } catch (err) {
      throw new FerError('model_invalid', `face-api ${model} detector weights in ${modelDir} cannot be loaded: ${errorMessage(err)}`, { cause: err });
    }
  }
  netUsers.set(net, (netUsers.get(net) ?? 0) + 1);
  log.debug({ model, backend: tf.getBackend(), modelDir }, 'face-api detector loaded');
  return new FaceApiDetector(faceapi, net, model, opts.detection);
}

class FaceApiDetector implements FaceDetector {
  readonly name: FaceApiModel;
  readonly scoreThreshold: number;
  private readonly options: FaceApiModule.TinyFaceDetectorOptions | FaceApiModule.SsdMobilenetv1Options;
  private queue: Promise<unknown> = Promise.resolve();
  private disposed = false;

  constructor(
    private readonly faceapi: FaceApi,
    private readonly net: Net,
    model: FaceApiModel,
    private readonly cfg: DetectionConfig,
  ) {
    this.name = model;
    this.scoreThreshold = cfg.faceapi_score_threshold;
    this.options =
      model === 'ssd'
        ? new faceapi.SsdMobilenetv1Options({ minConfidence: cfg.faceapi_score_threshold, maxResults: Math.max(cfg.max_faces * 4, 16) })
        : new faceapi.TinyFaceDetectorOptions({
            // The tiny detector squares its input: the longer configured side, in multiples of 32.
            inputSize: roundUpTo(Math.max(cfg.input_width, cfg.input_height), 32),
            scoreThreshold: cfg.faceapi_score_threshold,
          });
  }

  detect(frame: Frame): Promise<DetectedFace[]> {
    const run = this.queue.then(() => this.detectNow(frame));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async detectNow(frame: Frame): Promise<DetectedFace[]> {
    if (this.disposed) throw new FerError('engine_unavailable', `face-api ${this.name} detector used after dispose`);
    const problem = frameProblem(frame);
    if (problem) throw new FerError('frame_corrupt', `camera ${frame.cameraId} frame ${frame.seq}: ${problem}`);
    const tf = this.faceapi.tf;
    const { width, height, channels } = frame;
    // face-api wants 3 channels; gray frames are tiled. Intermediates die in tidy; `input` is freed below.
    const input = tf.tidy(() => {
      const t = tf.tensor3d(frame.data, [height, width, channels], 'int32');
      return channels === 1 ? tf.tile(t, [1, 1, 3]) : t;
    });
    try {
      const found = await this.faceapi.detectAllFaces(input, this.options);
      const faces: DetectedFace[] = found.map((d) => ({
        box: clipBox({ x: d.box.x, y: d.box.y, width: d.box.width, height: d.box.height }, width, height),
        score: d.score,
      }));
      return selectFaces(faces, this.cfg);
    } finally {
      input.dispose();
    }
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue;
    const users = (netUsers.get(this.net) ?? 1) - 1;
    if (users > 0) {
      netUsers.set(this.net, users);
    } else {
      netUsers.delete(this.net);
      this.net.dispose();
    }
  }
}
