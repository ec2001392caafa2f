import test from 'ava';
import { choosePrecision, decidePrecision, int8AgreesWhereClear, precisionKey, type PrecisionCache, type PrecisionDecision } from '../../agent/engines/precision-choice.js';
import { cpuClassFrom } from '../../agent/core/cpu-class.js';

test('int8 only where it agrees and saves at least 10 % of float32 time', (t) => {
  t.is(choosePrecision({ fp32Ms: 10, int8Ms: 4, agrees: true }).precision, 'int8');
  t.is(choosePrecision({ fp32Ms: 10, int8Ms: 9, agrees: true }).precision, 'int8');
  const slow = choosePrecision({ fp32Ms: 10, int8Ms: 9.5, agrees: true });
  t.is(slow.precision, 'fp32');
  t.regex(slow.why, /not 10 % faster here: int8 9\.50 ms, fp32 10\.00 ms \(5 % faster\)/);
  t.regex(choosePrecision({ fp32Ms: 52, int8Ms: 55, agrees: true }).why, /6 % slower/);
  const wrong = choosePrecision({ fp32Ms: 10, int8Ms: 2, agrees: false });
  t.is(wrong.precision, 'fp32');
  t.regex(wrong.why, /disagrees/);
  t.is(choosePrecision({ fp32Ms: 10, int8Ms: Number.NaN, agrees: true }).precision, 'fp32');
});

test('int8 agrees where float32 is clear; a near tie may fall either way', (t) => {
  const k = 3;
  // Case 0: clear (0.7 against 0.2) and int8 agrees. Case 1: a near tie (0.37 against 0.34) that int8 breaks the other way.
  const fp32 = [0.7, 0.2, 0.1, 0.34, 0.37, 0.29];
  const tieFlipped = [0.69, 0.21, 0.1, 0.35, 0.35 - 1e-3, 0.3 + 1e-3];
  t.true(int8AgreesWhereClear(fp32, tieFlipped, 2, k, 0.06));
  t.false(int8AgreesWhereClear(fp32, tieFlipped, 2, k, 0.02), 'with a margin under the tie\'s lead it counts');
  // A clear answer that int8 changes is a disagreement, whatever the other cases do.
  const clearFlipped = [0.2, 0.7, 0.1, 0.34, 0.37, 0.29];
  t.false(int8AgreesWhereClear(fp32, clearFlipped, 2, k, 0.06));
  t.true(int8AgreesWhereClear(fp32, fp32, 2, k, 0));
});

test('a decision is cached by model, CPU, runtime and threads; a hit does not measure again', async (t) => {
  const store = new Map<string, PrecisionDecision>();
  const cache: PrecisionCache = { get: (k) => store.get(k) ?? null, save: async (d) => void store.set(d.key, d) };
  const cpu = cpuClassFrom('model name\t: X\nflags\t\t: sse4_1 avx2\n', 'x64');
  const key = precisionKey('classifier', 'abc', cpu, 'onnxruntime-node 1.30.0', 1);
  t.regex(key, /classifier \| abc \| x86-avx2 \| X \| onnxruntime-node 1\.30\.0 \| threads 1/);
  let measured = 0;
  const measure = async () => (measured++, { fp32Ms: 10, int8Ms: 3, agrees: true });
  const first = await decidePrecision(key, measure, cache);
  const again = await decidePrecision(key, measure, cache);
  t.is(measured, 1);
  t.deepEqual(again, first);
  t.is(first.precision, 'int8');
  await decidePrecision(precisionKey('classifier', 'abc', cpu, 'onnxruntime-node 1.30.0', 2), measure, cache);
  t.is(measured, 2, 'another thread count measures again');
  await decidePrecision(key, measure, null);
  t.is(measured, 3, 'without a cache every start measures');
});
