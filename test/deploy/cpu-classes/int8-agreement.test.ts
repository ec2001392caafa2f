import test from 'ava';
import { compareClassify, type ClassifiedBox, type ClassifyLine } from '../arm64/compare.js';
import { classDepartures, classifierDepartures, detectorDepartures, lead, maskMovedCrops, smallestIou } from './int8-agreement.js';

function line(file: string, faces: Array<{ box: ClassifiedBox; emotion: string; probabilities: Record<string, number> }>): ClassifyLine {
  return { file, engine: 'onnxruntime', model: 'fer-vgg-m@0.0.1', faces: faces.map((f) => ({ ...f, score: 0.8 })) };
}

// Frame 0021 with the epoch-66 fer-vgg-m weights of the dry run (training/README.md): the int8 detector's box, the
// float32 detector's, and what each classifier said on them.
const INT8_BOX = { x: 242, y: 151, width: 132, height: 182 };
const FP32_BOX = { x: 235, y: 161, width: 135, height: 175 };
const int8Run = [line('0021.jpg', [{ box: INT8_BOX, emotion: 'neutral', probabilities: { neutral: 0.349, sad: 0.322, angry: 0.254 } }])];
const fp32Run = [line('0021.jpg', [{ box: FP32_BOX, emotion: 'sad', probabilities: { sad: 0.455, neutral: 0.301, angry: 0.125 } }])];
const mixedRun = [line('0021.jpg', [{ box: INT8_BOX, emotion: 'neutral', probabilities: { neutral: 0.377, sad: 0.323, angry: 0.222 } }])];

test('a crop moved by the int8 detector is not blamed on the int8 classifier', (t) => {
  t.deepEqual(detectorDepartures(int8Run, fp32Run), [], 'IoU 0.86 is within the detector bar');
  t.is(smallestIou(int8Run, fp32Run).toFixed(3), '0.859');
  t.deepEqual(classifierDepartures(int8Run, mixedRun), [], 'on the same crop both classifiers say neutral');
  // What the whole-pipeline comparison saw: float32 leads by 0.154 with another class.
  t.true(lead(fp32Run[0]!.faces[0]!.probabilities) > 0.15);
});

test('the int8 classifier picking another class on the same crop, where float32 is clear, is a departure', (t) => {
  const flipped = [line('0021.jpg', [{ box: { ...INT8_BOX, x: 243 }, emotion: 'sad', probabilities: { sad: 0.5, neutral: 0.3 } }])];
  t.deepEqual(classifierDepartures(flipped, mixedRun, 0.05), ['0021.jpg face 0: int8 sad, float32 neutral (lead 0.054)']);
  t.deepEqual(classifierDepartures(flipped, mixedRun), [], 'a lead of 0.054 is not clear at the default 0.15');
});

test('the classifiers are compared only on the same crops', (t) => {
  const d = classifierDepartures(int8Run, fp32Run);
  t.is(d.length, 1);
  t.regex(d[0]!, /0021\.jpg face 0: the crops differ/);
});

test('an int8 box far from the float32 one, a lost face or a missing result is a detector departure', (t) => {
  const far = [line('0021.jpg', [{ box: { ...INT8_BOX, x: 270 }, emotion: 'neutral', probabilities: { neutral: 1 } }])];
  t.deepEqual(detectorDepartures(far, fp32Run), ['0021.jpg face 0: int8 box IoU 0.565 with float32\'s, below 0.8']);
  t.deepEqual(detectorDepartures([line('0021.jpg', [])], fp32Run), ['0021.jpg: int8 finds 0 faces, float32 1']);
  t.deepEqual(detectorDepartures([], fp32Run), ['0021.jpg: no int8 result']);
  t.deepEqual(detectorDepartures([...int8Run, line('extra.jpg', [])], fp32Run), ['1 int8 results without a float32 one']);
});

// The same frame's int8 pipeline under emulated Nehalem: the int8 detector's box 3-4 px off the native one.
const nehalemInt8 = [line('0021.jpg', [{ box: { x: 242, y: 154, width: 132, height: 178 }, emotion: 'sad', probabilities: { neutral: 0.358, sad: 0.493, angry: 0.079 } }])];

test('between CPU classes the detector is held to its tolerance and the pipeline only to clear classes', (t) => {
  t.true(compareClassify(int8Run[0]!, nehalemInt8[0]!, 0.12, 6).some((d) => d.startsWith('faces[0].emotion')), 'compared whole, the near tie breaks the other way');
  const { masked, moved } = maskMovedCrops(int8Run, nehalemInt8);
  t.deepEqual(moved, ['0021.jpg face 0 (box 4 px off)']);
  t.deepEqual(compareClassify(int8Run[0]!, masked[0]!, 0.12, 6), [], 'a 4 px box and the same score are within the detector tolerance');
  t.deepEqual(compareClassify(int8Run[0]!, masked[0]!, 0.12, 3), ['faces[0].box.height: 182 vs 178'], 'a box beyond it is not');
  const nearlySame = [line('0021.jpg', [{ box: { ...INT8_BOX, x: 243 }, emotion: 'sad', probabilities: { neutral: 0.2, sad: 0.5, angry: 0.254 } }])];
  const same = maskMovedCrops(int8Run, nearlySame);
  t.deepEqual(same.moved, [], 'one pixel is rounding: the same crop');
  t.true(compareClassify(int8Run[0]!, same.masked[0]!, 0.12, 6).includes('faces[0].probabilities.sad: 0.322 vs 0.5'), 'so its probabilities are compared');
  t.deepEqual(classDepartures(nehalemInt8, int8Run, { got: 'Nehalem', ref: 'this CPU' }, { sameCrops: false }), [], 'native int8 leads by 0.027: no clear class');
  const clear = [line('0021.jpg', [{ box: INT8_BOX, emotion: 'neutral', probabilities: { neutral: 0.6, sad: 0.3 } }])];
  t.deepEqual(classDepartures(nehalemInt8, clear, { got: 'Nehalem', ref: 'this CPU' }, { sameCrops: false }), ['0021.jpg face 0: Nehalem sad, this CPU neutral (lead 0.300)']);
});
