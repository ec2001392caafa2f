/**
 * The expression classifiers compared by the benchmark, behind one call: n gray face crops (uint8, side×side) in,
 * n × 7 probabilities out, each model's own preprocessing included:
 * - ours: the bundled model through the agent's Preprocessor and classifier (onnxruntime or tfjs-wasm);
 * - @vladmandic/face-api's faceExpressionNet via its own predictExpressions (pads, resizes to 112, mean-RGB);
 * - @vladmandic/human's emotion model run as human's src/gear/emotion.ts does: RGB 0..1 → bilinear 64x64 →
 *   gray (0.2989, 0.5870, 0.1140) → (g - 0.5) * 2 → model.
 */
import { createRequire } from 'node:module';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import type * as TfAll from '@tensorflow/tfjs';
import type * as FaceApiModule from '@vladmandic/face-api/dist/face-api.node-wasm.js';
import { bundledModelDir } from '../../agent/core/paths.js';
import type { Frame } from '../../agent/core/types.js';
import type { ModelSpec } from '../../agent/emotion/classifier.js';
import { FlipAveragingClassifier } from '../../agent/emotion/flip-average.js';
import { diskModelHandler } from '../../agent/emotion/tfjs-classifier.js';
import { loadClassifier } from '../../agent/emotion/load-classifier.js';
import { Preprocessor } from '../../agent/emotion/preprocess.js';
import { initTfjs } from '../../agent/engines/tfjs.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { resolvePrecision, toModelSpec, type PrecisionSetting } from '../../agent/models/manifest.js';
import { defaultFaceApiModelDir } from '../../agent/vision/faceapi-detector.js';
import { FACE_API_LABELS, HUMAN_LABELS } from './labels.js';

const require = createRequire(import.meta.url);

export interface BenchClassifier {
  /** Short id used in the JSON. */
  id: string;
  /** What a reader sees in the table. */
  name: string;
  engine: string;
  labels: readonly string[];
  /** Input the model itself takes, e.g. "48x48 gray". */
  input: string;
  /** Size of the weight files on disk. */
  weightBytes: number;
  /** Ours only: the model spec the agent's Preprocessor cuts crops for (the crop-cost measurement uses it). */
  spec?: ModelSpec;
  /** Ours only: the bundle's manifest `runtime.flip_tta` ('off': model.flip_tta auto never runs the flip row). */
  flipTtaAuto?: 'auto' | 'off';
  /** n crops (each side×side gray uint8) → n × labels.length probabilities. */
  classify(crops: readonly Uint8Array[], side: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

async function fileBytes(...files: string[]): Promise<number> {
  let n = 0;
  for (const f of files) n += (await stat(f)).size;
  return n;
}

/**
 * A model bundle (by default the bundled one; `npm run bench -- --model DIR` benches a candidate release) on
 * onnxruntime or tfjs-wasm, preprocessed by the agent's own Preprocessor (no crop margin); with `flip`, through the
 * agent's flip test-time augmentation (model.flip_tta).
 */
export async function loadOurs(engine: 'onnxruntime' | 'tfjs-wasm', threads: number, flip = false, precision: PrecisionSetting = 'auto', modelDir: string = bundledModelDir): Promise<BenchClassifier> {
  const bundle = await loadBundle(modelDir);
  const spec = toModelSpec(bundle.manifest, resolvePrecision(bundle.manifest, engine, precision));
  const plain = await loadClassifier(bundle.dir, spec, engine, threads);
  const clf = flip ? new FlipAveragingClassifier(plain) : plain;
  // FER crops are already faces: use them whole, as `fer-agent eval` does.
  const pre = new Preprocessor({ ...spec, faceCrop: { margin: 0, square: false } });
  const per = spec.input.width * spec.input.height * spec.input.channels;
  let buf = new Float32Array(0);
  const files = engine === 'onnxruntime' ? [spec.onnxFile] : Object.keys(bundle.manifest.files).filter((f) => f.startsWith(path.dirname(spec.tfjsFile) + '/'));
  return {
    id: `ours-${engine}${precision === 'fp32' ? '-fp32' : ''}${flip ? '-flip' : ''}`,
    name: `fer-edge ${bundle.manifest.name}@${bundle.manifest.version} ${spec.precision}${flip ? ' + flip TTA' : ''}`,
    engine,
    labels: clf.labels,
    input: `${spec.input.width}x${spec.input.height} ${spec.input.channels === 1 ? 'gray' : 'RGB'}`,
    weightBytes: await fileBytes(...files.map((f) => path.join(bundle.dir, f))),
    spec,
    flipTtaAuto: bundle.manifest.runtime?.flip_tta ?? 'auto',
    async classify(crops, side) {
      const n = crops.length;
      if (buf.length < n * per) buf = new Float32Array(n * per);
      const box = [{ x: 0, y: 0, width: side, height: side }];
      crops.forEach((c, i) => buf.set(pre.run(grayFrame(c, side), box), i * per));
      return clf.classify(buf, n);
    },
    dispose: () => clf.dispose(),
  };
}

function grayFrame(data: Uint8Array, side: number): Frame {
  return { cameraId: 'bench', seq: 0, monoMs: 0, wallMs: 0, width: side, height: side, channels: 1, data };
}

type FaceApi = typeof FaceApiModule;

/** face-api's node-wasm build, sharing the process's tfjs engine (see agent/vision/faceapi-detector.ts). */
export async function loadFaceApi(threads: number): Promise<FaceApi> {
  await initTfjs('tfjs-wasm', threads);
  const mod = (await import('@vladmandic/face-api/dist/face-api.node-wasm.js')) as FaceApi & { default?: FaceApi };
  return mod.default ?? mod;
}

export async function loadFaceApiExpressions(threads: number): Promise<BenchClassifier> {
  const faceapi = await loadFaceApi(threads);
  const dir = defaultFaceApiModelDir();
  const net = faceapi.nets.faceExpressionNet;
  if (!net.isLoaded) await net.loadFromDisk(dir);
  const tf = faceapi.tf;
  return {
    id: 'face-api-tfjs-wasm',
    name: '@vladmandic/face-api faceExpressionNet',
    engine: 'tfjs-wasm',
    labels: FACE_API_LABELS,
    input: '112x112 RGB',
    weightBytes: await fileBytes(path.join(dir, 'face_expression_model.bin')),
    async classify(crops, side) {
      // face-api wants RGB images: the gray crop is tiled to three channels, as a gray camera frame would be.
      const inputs = crops.map((c) => tf.tidy(() => tf.tile(tf.tensor3d(c, [side, side, 1], 'int32'), [1, 1, 3])) as FaceApiModule.tf.Tensor3D);
      try {
        const res = (await net.predictExpressions(inputs)) as FaceApiModule.FaceExpressions[];
        const out = new Float32Array(crops.length * FACE_API_LABELS.length);
        res.forEach((e, i) => FACE_API_LABELS.forEach((l, j) => (out[i * FACE_API_LABELS.length + j] = e[l])));
        return out;
      } finally {
        for (const t of inputs) t.dispose();
      }
    },
    async dispose() {
      net.dispose();
    },
  };
}

export function humanModelDir(): string {
  // The package's exports hide package.json; its node entry lives in dist/, the models beside it.
  return path.join(path.dirname(require.resolve('@vladmandic/human')), '..', 'models');
}

export async function loadHumanEmotion(threads: number): Promise<BenchClassifier> {
  await initTfjs('tfjs-wasm', threads);
  const tf = (await import('@tensorflow/tfjs')) as typeof TfAll;
  const file = path.join(humanModelDir(), 'emotion.json');
  const model = await tf.loadGraphModel(diskModelHandler(file));
  const shape = model.inputs[0]?.shape ?? [];
  const size = shape[2] ?? 64;
  if (shape[3] !== 1) throw new Error(`${file}: expected the gray emotion model (input [-1,${size},${size},1]), got [${shape.join(',')}]`);
  const rgb = tf.tensor1d([0.2989, 0.587, 0.114], 'float32');
  return {
    id: 'human-tfjs-wasm',
    name: '@vladmandic/human emotion',
    engine: 'tfjs-wasm',
    labels: HUMAN_LABELS,
    input: `${size}x${size} gray`,
    weightBytes: await fileBytes(path.join(humanModelDir(), 'emotion.bin')),
    async classify(crops, side) {
      const n = crops.length;
      const px = new Int32Array(n * side * side);
      crops.forEach((c, i) => px.set(c, i * side * side));
      const y = tf.tidy(() => {
        // human hands its emotion model an RGB face in 0..1; a gray crop becomes three equal channels.
        const image = tf.tile(tf.div(tf.cast(tf.tensor4d(px, [n, side, side, 1], 'int32'), 'float32'), 255), [1, 1, 1, 3]);
        const resized = tf.image.resizeBilinear(image as TfAll.Tensor4D, [size, size], false);
        const gray = tf.sum(tf.mul(resized, rgb), 3, true);
        const input = tf.mul(tf.sub(gray, 0.5), 2);
        return model.execute(input) as TfAll.Tensor;
      });
      try {
        return Float32Array.from((await y.data()) as Float32Array);
      } finally {
        y.dispose();
      }
    },
    async dispose() {
      rgb.dispose();
      model.dispose();
    },
  };
}
