/**
 * An expression classifier loaded from a model bundle on one engine. Inputs are already preprocessed as the
 * bundle's manifest says (see preprocess.ts), batched, in NCHW order; outputs are probabilities in label order.
 */

/** What a classifier needs to know from a bundle's manifest (agent/models/BUNDLE.md). */
export interface ModelSpec {
  labels: string[];
  input: { width: number; height: number; channels: 1 | 3 };
  preprocessing: { scale: number; mean: number[]; std: number[] };
  output: 'probabilities' | 'logits';
  faceCrop: { margin: number; square: boolean };
  /** Which form of the model onnxFile is: the float model or its int8 quantization (onnxruntime only). */
  precision: 'fp32' | 'int8';
  /** Paths relative to the bundle directory. */
  onnxFile: string;
  tfjsFile: string;
}

export interface EmotionClassifier {
  readonly labels: readonly string[];
  /** Engine actually running the model: 'onnxruntime', 'tfjs-node', 'tfjs-wasm'. */
  readonly engine: string;
  readonly spec: ModelSpec;
  /** `input` holds n × channels × height × width floats (NCHW); returns n × labels.length probabilities. */
  classify(input: Float32Array, n: number): Promise<Float32Array>;
  dispose(): Promise<void>;
}

/** Loads a verified bundle directory on a concrete engine. */
export type ClassifierLoader = (bundleDir: string, spec: ModelSpec, engine: string, threads: number) => Promise<EmotionClassifier>;

/** In-place softmax over rows, for bundles whose model outputs logits. */
export function softmaxRows(x: Float32Array, width: number): Float32Array {
  for (let r = 0; r < x.length; r += width) {
    let max = -Infinity;
    for (let i = 0; i < width; i++) max = Math.max(max, x[r + i]!);
    let sum = 0;
    for (let i = 0; i < width; i++) {
      const e = Math.exp(x[r + i]! - max);
      x[r + i] = e;
      sum += e;
    }
    for (let i = 0; i < width; i++) x[r + i]! /= sum;
  }
  return x;
}
