/** The x64/arm64 comparison itself must catch differences, or the arm64 test could pass on anything. */
import test from 'ava';
import { compareClassify, parseClassifyOutput, type ClassifyLine } from './compare.js';

function line(score: number, happy: number, emotion = 'happy', x = 180): ClassifyLine {
  return {
    file: 'a.jpg',
    engine: 'onnxruntime',
    model: 'm@1',
    faces: [{ box: { x, y: 56, width: 93, height: 122 }, score, emotion, probabilities: { happy, sad: Number((1 - happy).toFixed(6)) } }],
  };
}

test('identical runs and differences at the printed precision agree', (t) => {
  t.deepEqual(compareClassify(line(0.8988, 0.961379), line(0.8988, 0.961379), 1e-4), []);
  // 0.8989 - 0.8988 is a hair above 1e-4 in binary; the printed values are one rounding step apart.
  t.deepEqual(compareClassify(line(0.8988, 0.961379), line(0.8989, 0.961479), 1e-4), []);
  t.deepEqual(compareClassify(line(0.8988, 0.5), line(0.8988, 0.5, 'happy', 181), 1e-4), []);
});

test('different classes, scores, boxes and face counts are reported', (t) => {
  const ref = line(0.8988, 0.961379);
  t.deepEqual(compareClassify(ref, line(0.8990, 0.961379), 1e-4), ['faces[0].score: 0.8988 vs 0.899']);
  t.deepEqual(compareClassify(ref, line(0.8988, 0.961579), 1e-4).length, 2); // happy and sad both moved 2e-4
  t.deepEqual(compareClassify(ref, line(0.8988, 0.961379, 'sad'), 1e-4), ['faces[0].emotion: happy vs sad']);
  t.deepEqual(compareClassify(ref, line(0.8988, 0.961379, 'happy', 182), 1e-4), ['faces[0].box.x: 180 vs 182']);
  t.deepEqual(compareClassify(ref, { ...ref, faces: [] }, 1e-4), ['faces: 1 vs 0']);
  t.deepEqual(compareClassify(ref, { ...ref, engine: 'tfjs-wasm' }, 1e-4), ['engine: onnxruntime vs tfjs-wasm']);
  const missing = line(0.8988, 0.961379);
  delete missing.faces[0]!.probabilities.sad;
  t.deepEqual(compareClassify(ref, missing, 1e-4), ['faces[0].probabilities.sad: 0.038621 vs undefined']);
});

test('the result line is found among log lines; an error line or no line throws', (t) => {
  const result = JSON.stringify(line(0.5, 0.7));
  const out = `{"level":30,"msg":"classifier loaded"}\n${result}\n`;
  t.deepEqual(parseClassifyOutput(out), line(0.5, 0.7));
  t.throws(() => parseClassifyOutput('{"file":"a.jpg","error":"decode failed"}\n'), { message: /classify failed on a\.jpg: decode failed/ });
  t.throws(() => parseClassifyOutput('{"level":30}\n'), { message: /no result line/ });
  t.throws(() => parseClassifyOutput(result.replace('0.7', '"x"')), { message: /probabilities\.happy is not a finite number/ });
});
