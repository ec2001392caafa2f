// Loads an exported TF.js LayersModel with @tensorflow/tfjs-layers (cpu backend) and prints its predictions.
// Usage: node tfjs_predict.mjs MODEL_DIR INPUT.json  (INPUT.json: {"shape": [n,h,w,c], "data": [floats...]})
// Used by test_export_tfjs.py to prove tf.loadLayersModel accepts what export_tfjs.py writes.
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import { loadLayersModel } from '@tensorflow/tfjs-layers';

const [modelDir, inputFile] = process.argv.slice(2);
const modelJson = JSON.parse(await readFile(path.join(modelDir, 'model.json'), 'utf8'));
const handler = {
  load: () =>
    tf.io.getModelArtifactsForJSON(modelJson, async (manifest) => {
      const specs = [];
      const buffers = [];
      for (const group of manifest) {
        specs.push(...group.weights);
        for (const p of group.paths) buffers.push(await readFile(path.join(modelDir, p)));
      }
      const all = Buffer.concat(buffers);
      return [specs, all.buffer.slice(all.byteOffset, all.byteOffset + all.byteLength)];
    }),
};
await tf.setBackend('cpu');
const model = await loadLayersModel(handler, { strict: true });
const input = JSON.parse(await readFile(inputFile, 'utf8'));
const y = model.predict(tf.tensor(input.data, input.shape, 'float32'));
process.stdout.write(JSON.stringify({ shape: y.shape, data: Array.from(await y.data()) }));
