/**
 * `model.flip_tta: auto` (pure): on only with a Validation gain for the form that runs and two passes of it no
 * slower than one float32 pass on this CPU; the figures are read from the manifest's training.metrics.
 */
import test from 'ava';
import { chooseFlipTta, validationFlipFigures } from '../../agent/emotion/flip-choice.js';

const gain = { plain: 0.7, flip: 0.705 };
const vnni = { fp32Ms: 2.0, int8Ms: 0.7 };
const avx2 = { fp32Ms: 2.0, int8Ms: 1.9 };

test('auto: on where int8 twice is no slower than fp32 once and Validation shows a gain', (t) => {
  const c = chooseFlipTta({ setting: 'auto', precision: 'int8', validation: gain, timing: vnni });
  t.true(c.on, c.why);
  t.regex(c.why, /Validation 70\.00 % → 70\.50 % with flip TTA; two int8 passes 1\.40 ms against one fp32 pass 2\.00 ms/);
});

test('auto: off where two passes cost more than one float32 pass (an AVX2-only host; or float32 running)', (t) => {
  const a = chooseFlipTta({ setting: 'auto', precision: 'int8', validation: gain, timing: avx2 });
  t.false(a.on);
  t.regex(a.why, /too slow here: two int8 passes 3\.80 ms against one fp32 pass 2\.00 ms/);
  t.false(chooseFlipTta({ setting: 'auto', precision: 'fp32', validation: gain, timing: vnni }).on, 'fp32 twice is never within fp32 once');
  // The boundary: exactly the float32 cost is allowed.
  t.true(chooseFlipTta({ setting: 'auto', precision: 'int8', validation: gain, timing: { fp32Ms: 2, int8Ms: 1 } }).on);
});

test('auto: off without a Validation gain, without Validation figures, or without a timing on this CPU', (t) => {
  t.regex(chooseFlipTta({ setting: 'auto', precision: 'int8', validation: { plain: 0.7, flip: 0.7 }, timing: vnni }).why, /no gain on Validation/);
  t.regex(chooseFlipTta({ setting: 'auto', precision: 'int8', validation: { plain: 0.7, flip: 0.69 }, timing: vnni }).why, /no gain on Validation/);
  t.regex(chooseFlipTta({ setting: 'auto', precision: 'int8', timing: vnni }).why, /no Validation accuracy with flip TTA for its int8 form/);
  const c = chooseFlipTta({ setting: 'auto', precision: 'int8', validation: gain });
  t.false(c.on);
  t.regex(c.why, /not measured on this CPU/);
});

test("auto: off where the bundle's release says runtime.flip_tta off, whatever the figures; 'auto' leaves them to decide", (t) => {
  const off = chooseFlipTta({ setting: 'auto', bundle: 'off', precision: 'int8', validation: gain, timing: vnni });
  t.false(off.on);
  t.regex(off.why, /runtime\.flip_tta off/);
  t.true(chooseFlipTta({ setting: 'auto', bundle: 'auto', precision: 'int8', validation: gain, timing: vnni }).on);
  // The user's explicit setting still wins over the bundle's word.
  t.true(chooseFlipTta({ setting: true, bundle: 'off', precision: 'int8', validation: gain, timing: vnni }).on);
});

test('true and false force it whatever the figures', (t) => {
  t.true(chooseFlipTta({ setting: true, precision: 'fp32' }).on);
  t.false(chooseFlipTta({ setting: false, precision: 'int8', validation: gain, timing: vnni }).on);
});

test('validationFlipFigures reads the figures of the form that runs, and nothing malformed', (t) => {
  const training = { metrics: { validation_accuracy: 0.71, validation_accuracy_flip_tta: 0.715, validation_accuracy_int8: 0.709, validation_accuracy_int8_flip_tta: 0.712, public_test_accuracy_flip_tta: 0.9 } };
  t.deepEqual(validationFlipFigures(training, 'fp32'), { plain: 0.71, flip: 0.715 });
  t.deepEqual(validationFlipFigures(training, 'int8'), { plain: 0.709, flip: 0.712 });
  // PublicTest figures decide nothing: a bundle with only those has no Validation figures.
  t.is(validationFlipFigures({ metrics: { public_test_accuracy: 0.7, public_test_accuracy_flip_tta: 0.71 } }, 'fp32'), undefined);
  t.is(validationFlipFigures({ metrics: { validation_accuracy: 0.7, validation_accuracy_flip_tta: '0.8' } }, 'fp32'), undefined);
  t.is(validationFlipFigures({ metrics: { validation_accuracy: 0.7, validation_accuracy_flip_tta: 1.5 } }, 'fp32'), undefined);
  t.is(validationFlipFigures(undefined, 'fp32'), undefined);
  t.is(validationFlipFigures({ metrics: null }, 'int8'), undefined);
});
