import test from 'ava';
import { FerError } from '../../agent/core/errors.js';
import { checkSmoothingWeight, smoothProbs } from '../../agent/tracking/smoothing.js';

test('the first value starts the average', (t) => {
  const next = new Float32Array([0.2, 0.8]);
  const out = smoothProbs(undefined, next, 0.4);
  t.deepEqual([...out], [...next]);
  t.not(out, next, 'a copy, so later frames cannot change it');
});

test('the newest frame weighs `weight`', (t) => {
  const out = smoothProbs(new Float32Array([1, 0]), new Float32Array([0, 1]), 0.4);
  t.true(Math.abs(out[0] - 0.6) < 1e-6);
  t.true(Math.abs(out[1] - 0.4) < 1e-6);
});

test('weight 1 means no smoothing; a label count change restarts', (t) => {
  t.deepEqual([...smoothProbs(new Float32Array([1, 0]), new Float32Array([0.25, 0.75]), 1)], [0.25, 0.75]);
  t.deepEqual([...smoothProbs(new Float32Array([1, 0]), new Float32Array([0.5, 0.25, 0.25]), 0.4)], [0.5, 0.25, 0.25]);
});

test('a weight outside (0, 1] is a config error naming the key', (t) => {
  for (const w of [0, -0.1, 1.5, Number.NaN]) {
    const err = t.throws(() => checkSmoothingWeight(w), { instanceOf: FerError });
    t.is(err?.reason, 'config_invalid');
    t.regex(err?.message ?? '', /tracking\.smoothing/);
  }
  t.notThrows(() => checkSmoothingWeight(1));
});
