import path from 'node:path';
import test from 'ava';
import { silentLogger } from '../../agent/core/log.js';
import { createDetector, resolveDetector } from '../../agent/vision/create-detector.js';
import { iou } from '../../agent/core/geometry.js';
import { ASTRONAUT_FACE, detection, loadFrame, samplesDir } from './samples.js';

test('auto means CenterFace on onnxruntime and the tiny detector on tfjs engines; explicit choices win', (t) => {
  t.is(resolveDetector({ detector: 'auto' }, 'onnxruntime'), 'centerface');
  t.is(resolveDetector({ detector: 'auto' }, 'tfjs-wasm'), 'tiny');
  t.is(resolveDetector({ detector: 'auto' }, 'tfjs-node'), 'tiny');
  t.is(resolveDetector({ detector: 'ssd' }, 'onnxruntime'), 'ssd');
  t.is(resolveDetector({ detector: 'centerface' }, 'tfjs-wasm'), 'centerface');
});

for (const engine of ['onnxruntime', 'tfjs-wasm'] as const) {
  test.serial(`createDetector(auto, ${engine}) loads a detector that finds the astronaut`, async (t) => {
    const det = await createDetector({ ...detection, detector: 'auto' }, engine, 1, silentLogger);
    try {
      t.is(det.name, engine === 'onnxruntime' ? 'centerface' : 'tiny');
      const faces = await det.detect(await loadFrame(path.join(samplesDir, 'astronaut.jpg')));
      t.is(faces.length, 1);
      t.true(iou(faces[0]!.box, ASTRONAUT_FACE) > 0.4);
    } finally {
      await det.dispose();
    }
  });
}
