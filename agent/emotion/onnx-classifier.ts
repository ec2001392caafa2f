import path from 'node:path';
import '../engines/ort-privacy.js'; // before onnxruntime-node loads: no telemetry (see ort-privacy.ts)
import * as ort from 'onnxruntime-node';
import { FerError, errorMessage } from '../core/errors.js';
import { sessionOptions } from '../engines/onnx-session.js';
import { softmaxRows, type EmotionClassifier, type ModelSpec } from './classifier.js';

export async function loadOnnxClassifier(dir: string, spec: ModelSpec, threads: number): Promise<EmotionClassifier> {
  const file = path.join(dir, spec.onnxFile);
  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(file, sessionOptions(threads));
  } catch (err) {
    throw new FerError('model_invalid', `${file} does not load on onnxruntime: ${errorMessage(err)}`);
  }
  const inputName = session.inputNames[0]!;
  const outputName = session.outputNames[0]!;
  const { width, height, channels } = spec.input;
  const nLabels = spec.labels.length;
  return {
    labels: spec.labels,
    engine: 'onnxruntime',
    spec,
    async classify(input: Float32Array, n: number): Promise<Float32Array> {
      if (n === 0) return new Float32Array(0);
      const t = new ort.Tensor('float32', input.subarray(0, n * channels * height * width), [n, channels, height, width]);
      const out = await session.run({ [inputName]: t });
      const o = out[outputName]!;
      try {
        if (o.dims.length !== 2 || o.dims[0] !== n || o.dims[1] !== nLabels) {
          throw new FerError('model_shape_mismatch', `${file}: output shape [${o.dims.join(',')}] does not match [${n},${nLabels}] (labels in manifest)`);
        }
        // Copy out of ORT-owned memory before the tensor is released.
        const probs = Float32Array.from(o.data as Float32Array);
        return spec.output === 'logits' ? softmaxRows(probs, nLabels) : probs;
      } finally {
        t.dispose();
        o.dispose();
      }
    },
    async dispose() {
      await session.release();
    },
  };
}
