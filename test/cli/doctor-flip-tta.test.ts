/**
 * `doctor` self-tests the model it would serve. With flip TTA on, the served classifier averages each face with its
 * mirror, which the manifest's self-test cases do not expect: doctor must check the model itself, not the average
 * (it reported a sound 1.5.0 as failing its self-test on hosts where `model.flip_tta: auto` turns flip TTA on).
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../agent/core/paths.js';
import { bundledNamePattern } from '../helpers/bundled-model.js';

for (const precision of ['fp32', 'int8'] as const) {
  test(`doctor passes the bundled model's self-test with flip TTA on (${precision})`, async (t) => {
    const env = { ...Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FER_'))), FER_FLIP_TTA: 'true' };
    const out = await new Promise<string>((resolve) => {
      const args = [path.join('dist', 'agent', 'cli', 'main.js'), 'doctor', '--mqtt-url', '', '--set', `model.precision=${precision}`, '--timeout', '5000'];
      execFile(process.execPath, args, { cwd: packageRoot, env, timeout: 120_000 }, (_e, so, se) => resolve(so + se));
    });
    const line = out.split('\n').find((l) => /^\S+ +model /.test(l)) ?? `(no model line in: ${out.slice(-2000)})`;
    t.regex(line, new RegExp(`^ok +model +${bundledNamePattern}@\\S+ .*self-test \\d+ cases .*\\(\\w+\\); precision \\w+; flip TTA on \\(model\\.flip_tta true \\(set\\)\\)`));
    t.regex(line, new RegExp(`\\(${precision}\\)`));
  });
}
