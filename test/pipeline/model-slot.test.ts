import test from 'ava';
import type { EmotionClassifier, ModelSpec } from '../../agent/emotion/classifier.js';
import { ModelSlot } from '../../agent/pipeline/model-slot.js';

const spec: ModelSpec = {
  labels: ['a', 'b'], input: { width: 2, height: 2, channels: 1 }, preprocessing: { scale: 1, mean: [0], std: [1] },
  output: 'probabilities', faceCrop: { margin: 0, square: false }, precision: 'fp32', onnxFile: 'm.onnx', tfjsFile: 'm.json',
};

function classifier(name: string, disposed: string[]): EmotionClassifier {
  return { labels: spec.labels, engine: name, spec, classify: async () => new Float32Array(2), dispose: async () => void disposed.push(name) };
}

test('a swap serves new leases from the new model and disposes the old one only after its last lease', async (t) => {
  const disposed: string[] = [];
  const slot = new ModelSlot(classifier('old', disposed));
  const inFlight = slot.acquire();
  slot.swap(classifier('new', disposed));
  t.is(slot.acquire().model.classifier.engine, 'new');
  t.is(inFlight.model.classifier.engine, 'old', 'the frame in flight keeps its model');
  t.is(slot.active.generation, 1);
  t.deepEqual(disposed, []);
  inFlight.release();
  inFlight.release(); // double release is harmless
  await slot.dispose();
  t.true(disposed.includes('old'));
});

test('a swap with no lease out disposes the old model at once', (t) => {
  const disposed: string[] = [];
  const slot = new ModelSlot(classifier('old', disposed));
  slot.swap(classifier('new', disposed));
  t.deepEqual(disposed, ['old']);
});
