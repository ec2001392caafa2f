import test from 'ava';
import { argmax, lead } from '../../agent/core/probabilities.js';

test('argmax and lead read one packed row', (t) => {
  const rows = new Float32Array([0.1, 0.6, 0.3, /* row 1 */ 0.45, 0.1, 0.45]);
  t.is(argmax(rows, 0, 3), 1);
  t.is(argmax(rows, 3, 3), 0, 'the first of two equal values');
  t.true(Math.abs(lead(rows, 0, 3) - 0.3) < 1e-6);
  t.is(lead(rows, 3, 3), 0);
  t.true(Math.abs(lead([0.2, 0.5, 0.3]) - 0.2) < 1e-9, 'the whole array by default');
  t.is(lead([0.9], 0, 1), 0, 'one class has no runner-up');
  t.true(Math.abs(lead([0.3, 0.1, 0.6], 0, 3) - 0.3) < 1e-9, 'the top can come last');
});
