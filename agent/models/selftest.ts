/**
 * The manifest's self-test: golden inputs run through the loaded classifier must give the expected probabilities
 * within the tolerance. Catches a model that loads but computes something else on this engine (wrong export,
 * float16 damage, a layout mix-up) before it is activated.
 */
import { FerError } from '../core/errors.js';
import { argmax, lead } from '../core/probabilities.js';
import type { EmotionClassifier } from '../emotion/classifier.js';
import { decodeBase64Strict, selfTestFor, type Manifest, type SelfTest } from './manifest.js';

export interface SelfTestReport {
  cases: number;
  /** Largest absolute difference seen over all cases and labels. */
  maxDiff: number;
  worstCase: number;
  worstLabel: string;
}

/**
 * One case's uint8 pixels (row-major, channels interleaved) → (pixel*scale - mean[c]) / std[c] in CHW order,
 * written into `out` at `offset`.
 */
export function preprocessPixels(pixels: Uint8Array, m: Pick<Manifest, 'input' | 'preprocessing'>, out: Float32Array, offset = 0): void {
  const { width, height, channels } = m.input;
  const { scale, mean, std } = m.preprocessing;
  const plane = width * height;
  if (pixels.length !== plane * channels) throw new FerError('model_invalid', `self-test pixels have ${pixels.length} bytes; expected ${plane * channels}`);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < channels; c++) out[offset + c * plane + i] = (pixels[i * channels + c]! * scale - mean[c]!) / std[c]!;
  }
}

/** All cases as one NCHW batch. */
export function selfTestBatch(m: Manifest, st: SelfTest = m.selftest): Float32Array {
  const per = m.input.width * m.input.height * m.input.channels;
  const batch = new Float32Array(per * st.cases.length);
  st.cases.forEach((c, i) => preprocessPixels(decodeBase64Strict(c.pixels_b64, `selftest.cases[${i}].pixels_b64`), m, batch, i * per));
  return batch;
}

/**
 * Runs the self-test of the model the classifier runs (the int8 model has its own cases); throws
 * model_shape_mismatch or model_selftest_failed naming the case and label.
 */
export async function runSelfTest(classifier: EmotionClassifier, m: Manifest): Promise<SelfTestReport> {
  const st = selfTestFor(m, classifier.spec.precision);
  const n = st.cases.length;
  const k = m.labels.length;
  const out = await classifier.classify(selfTestBatch(m, st), n);
  if (out.length !== n * k) {
    throw new FerError('model_shape_mismatch', `model gives ${out.length / n} outputs per input on ${classifier.engine}; the manifest has ${k} labels`);
  }
  const report: SelfTestReport = { cases: n, maxDiff: 0, worstCase: 0, worstLabel: m.labels[0]! };
  for (let i = 0; i < n; i++) {
    const expected = st.cases[i]!.expected;
    for (let j = 0; j < k; j++) {
      const got = out[i * k + j]!;
      // NaN compares false everywhere, so test for it explicitly.
      const diff = Number.isFinite(got) ? Math.abs(got - expected[j]!) : Infinity;
      if (diff > report.maxDiff) Object.assign(report, { maxDiff: diff, worstCase: i, worstLabel: m.labels[j]! });
    }
  }
  // Top class first: where the expected answer is clear (its lead over the runner-up is more than twice the
  // tolerance), a host that picks another class computes another function, whatever the tolerance says.
  for (let i = 0; i < n; i++) {
    const expected = st.cases[i]!.expected;
    const want = argmax(expected, 0, k);
    const got = argmax(out, i * k, k);
    if (got !== want && lead(expected) > 2 * st.tolerance) {
      throw new FerError(
        'model_selftest_failed',
        `self-test case ${i} (${classifier.spec.precision}): ${classifier.engine} picks ${m.labels[got]} (${out[i * k + got]}), expected ${m.labels[want]} (${expected[want]})`,
      );
    }
  }
  if (report.maxDiff > st.tolerance) {
    const i = report.worstCase;
    const j = m.labels.indexOf(report.worstLabel);
    throw new FerError(
      'model_selftest_failed',
      `self-test case ${i} label ${report.worstLabel} (${classifier.spec.precision}): ${classifier.engine} gives ${out[i * k + j]}, expected ${st.cases[i]!.expected[j]} ` +
        `(difference ${report.maxDiff.toPrecision(3)} > tolerance ${st.tolerance})`,
    );
  }
  return report;
}
