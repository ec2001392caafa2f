import { FerError } from '../core/errors.js';
import type { ClassifierLoader, EmotionClassifier, ModelSpec } from './classifier.js';

/** The one ClassifierLoader: picks the implementation for a concrete engine. */
export const loadClassifier: ClassifierLoader = async (dir: string, spec: ModelSpec, engine: string, threads: number): Promise<EmotionClassifier> => {
  if (engine === 'onnxruntime') return (await import('./onnx-classifier.js')).loadOnnxClassifier(dir, spec, threads);
  if (engine === 'tfjs-wasm' || engine === 'tfjs-node') return (await import('./tfjs-classifier.js')).loadTfjsClassifier(dir, spec, engine, threads);
  throw new FerError('engine_unavailable', `engine ${JSON.stringify(engine)} is not a concrete engine (onnxruntime, tfjs-node, tfjs-wasm)`);
};
