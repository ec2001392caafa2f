import test from 'ava';
import { MAX_ROLL_DEG, MIN_ROLL_DEG, cropRolls, faceRoll } from '../../agent/vision/face-roll.js';

const deg = (r: number): number => (r * 180) / Math.PI;
const eyes = (a: [number, number], b: [number, number]): { landmarks: Array<[number, number]> } => ({ landmarks: [a, b, [50, 60], [40, 70], [60, 70]] });

test('roll is the eye line angle, positive when the eye on the right is lower, whichever eye comes first', (t) => {
  t.is(faceRoll(eyes([40, 50], [60, 50])), 0);
  t.true(Math.abs(deg(faceRoll(eyes([40, 50], [60, 50 + 20 * Math.tan(Math.PI / 9)]))) - 20) < 1e-9);
  t.true(Math.abs(deg(faceRoll(eyes([60, 35], [40, 50]))) + deg(Math.atan2(15, 20))) < 1e-9, 'the right eye higher: negative, eyes given right first');
  t.is(faceRoll(eyes([60, 35], [40, 50])), faceRoll(eyes([40, 50], [60, 35])));
});

test('no landmarks, a degenerate or non-finite eye line, a tilt the net absorbs or one beyond the limit: no turn', (t) => {
  const tilted = (d: number): { landmarks: Array<[number, number]> } => eyes([40, 50], [60, 50 + 20 * Math.tan((d * Math.PI) / 180)]);
  t.is(faceRoll(tilted(MIN_ROLL_DEG - 1)), 0);
  t.is(faceRoll(tilted(-(MIN_ROLL_DEG - 1))), 0);
  t.true(Math.abs(deg(faceRoll(tilted(MIN_ROLL_DEG + 1))) - (MIN_ROLL_DEG + 1)) < 1e-9);
  t.true(Math.abs(deg(faceRoll(tilted(3), 0)) - 3) < 1e-9, 'minDeg 0 turns every tilt');
  t.is(faceRoll({}), 0);
  t.is(faceRoll({ landmarks: [[1, 2]] }), 0);
  t.is(faceRoll(eyes([50, 50], [50, 50])), 0);
  t.is(faceRoll(eyes([40, Number.NaN], [60, 50])), 0);
  const steep = Math.tan(((MAX_ROLL_DEG + 5) * Math.PI) / 180) * 20;
  t.is(faceRoll(eyes([40, 50], [60, 50 + steep])), 0);
  t.not(faceRoll(eyes([40, 50], [60, 50 + steep / 2])), 0);
});

test('cropRolls: one roll per face when on, from the configured threshold; none when off', (t) => {
  const faces = [eyes([40, 50], [60, 60]), {}, eyes([40, 50], [60, 52])];
  t.is(cropRolls(faces, { roll_align: false, roll_align_min_deg: 10 }), undefined);
  const r = cropRolls(faces, { roll_align: true, roll_align_min_deg: 10 })!;
  t.is(r.length, 3);
  t.true(r[0]! > 0);
  t.is(r[1], 0);
  t.is(r[2], 0, 'a 5.7-degree tilt is under the 10-degree threshold');
  t.true(cropRolls(faces, { roll_align: true, roll_align_min_deg: 0 })![2]! > 0, 'at 0 every tilted face is turned');
});
