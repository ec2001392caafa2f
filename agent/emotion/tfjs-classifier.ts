import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type * as TfLayers from '@tensorflow/tfjs-layers';
import type * as TfCore from '@tensorflow/tfjs-core';
import { FerError, errorMessage } from '../core/errors.js';
import { initTfjs } from '../engines/tfjs.js';
import { softmaxRows, type EmotionClassifier, type ModelSpec } from './classifier.js';

interface WeightsGroup {
  paths: string[];
  weights: TfCore.io.WeightsManifestEntry[];
}

/** Reads a TF.js model (layers or graph) from disk without tfjs-node's file:// handler (which the wasm engine lacks). */
export function diskModelHandler(modelJson: string): TfCore.io.IOHandler {
  return {
    async load(): Promise<TfCore.io.ModelArtifacts> {
      const json = JSON.parse(await readFile(modelJson, 'utf8')) as {
        modelTopology: object; weightsManifest: WeightsGroup[]; format?: string; generatedBy?: string; convertedBy?: string;
        signature?: object; userDefinedMetadata?: Record<string, object>;
      };
      const specs: TfCore.io.WeightsManifestEntry[] = [];
      const buffers: Buffer[] = [];
      for (const group of json.weightsManifest) {
        specs.push(...group.weights);
        for (const p of group.paths) {
          const rel = path.normalize(p);
          if (path.isAbsolute(rel) || rel.startsWith('..')) throw new Error(`weight path ${p} escapes the model directory`);
          buffers.push(await readFile(path.join(path.dirname(modelJson), rel)));
        }
      }
      const all = Buffer.concat(buffers);
      return {
        modelTopology: json.modelTopology,
        weightSpecs: specs,
        weightData: all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength),
        format: json.format,
        generatedBy: json.generatedBy,
        convertedBy: json.convertedBy,
        signature: json.signature,
        userDefinedMetadata: json.userDefinedMetadata,
      };
    },
  };
}

export async function loadTfjsClassifier(dir: string, spec: ModelSpec, engine: 'tfjs-node' | 'tfjs-wasm', threads: number): Promise<EmotionClassifier> {
  const tf = await initTfjs(engine, threads);
  const layers = (await import('@tensorflow/tfjs-layers')) as typeof TfLayers;
  const file = path.join(dir, spec.tfjsFile);
  let model: TfLayers.LayersModel;
  try {
    model = await layers.loadLayersModel(diskModelHandler(file));
  } catch (err) {
    throw new FerError('model_invalid', `${file} does not load as a TF.js LayersModel: ${errorMessage(err)}`);
  }
  const { width: w, height: h, channels: c } = spec.input;
  const nLabels = spec.labels.length;
  const outShape = model.outputs[0]?.shape;
  if (!outShape || outShape[outShape.length - 1] !== nLabels) {
    model.dispose();
    throw new FerError('model_shape_mismatch', `${file}: output shape [${String(outShape)}] does not end in ${nLabels} (labels in manifest)`);
  }
  let nhwc = new Float32Array(0);
  return {
    labels: spec.labels,
    engine,
    spec,
    async classify(input: Float32Array, n: number): Promise<Float32Array> {
      if (n === 0) return new Float32Array(0);
      // NCHW → NHWC in JS: cheaper than a transpose op for 48x48 crops, and no extra tensor to track.
      const size = n * c * h * w;
      if (nhwc.length < size) nhwc = new Float32Array(size);
      const plane = h * w;
      for (let b = 0; b < n; b++) {
        const base = b * c * plane;
        for (let ch = 0; ch < c; ch++) {
          const src = base + ch * plane;
          for (let i = 0; i < plane; i++) nhwc[base + i * c + ch] = input[src + i]!;
        }
      }
      const x = tf.tensor4d(nhwc.subarray(0, size), [n, h, w, c]);
      const y = model.predict(x) as TfCore.Tensor;
      try {
        const probs = (await y.data()) as Float32Array;
        const out = Float32Array.from(probs);
        return spec.output === 'logits' ? softmaxRows(out, nLabels) : out;
      } finally {
        x.dispose();
        y.dispose();
      }
    },
    async dispose() {
      model.dispose();
    },
  };
}
