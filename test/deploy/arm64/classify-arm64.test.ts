/**
 * Issue 13: the agent runs on arm64 as on a Raspberry Pi 4 (and, for the int8 default, a Pi 5's Cortex-A76: issue 29). `fer-agent classify` on the bundled sample, with
 * Debian's arm64 Node.js and the package's arm64 npm dependencies under qemu-aarch64-static (Cortex-A72), gives
 * the same faces, classes and scores as on x64: within 1e-4 for the float models (onnxruntime fp32, tfjs-wasm), and
 * for the int8 models (the onnxruntime default) the same faces and classes with scores within 0.05 and boxes within
 * 3 px (measured: 0.022 and 2 px). Int8 kernels differ by CPU (x86 AVX2/VNNI u8s8 against arm64 NEON/dot-product) in how they round each
 * requantized layer output, one step of that layer's scale; a few such steps move a softmax probability by
 * thousandths, while a wrong int8 model moves it by tenths (the manifest's int8 self-test tolerance is 0.03 for the
 * same reason). Skips, saying what is missing, only where deploy/arm64/make-sysroot.sh cannot build its sysroot here
 * (no qemu, no apt, no network on a first run). FER_CANDIDATE_MODEL=DIR runs a release candidate instead of the bundled
 * default (../candidate-model.ts).
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import test from 'ava';
import { packageRoot } from '../../../agent/core/paths.js';
import { arm64Unavailable, assembleApp, buildArm64Runtime, cleanEnv, exec, runArm64Node } from './arm64-runtime.js';
import { compareClassify, parseClassifyOutput } from './compare.js';
import { modelUnderTest } from '../candidate-model.js';

const SAMPLE = path.join('agent', 'assets', 'samples', 'astronaut.jpg');
const VARIANTS = [
  // Int8 kernels of x86 and arm64 may round requantization steps differently: scores within a few hundredths.
  // flip_tta pinned off: `auto` decides it from timings, which differ between a native x64 run and an emulated arm64 one.
  { name: 'onnxruntime int8 (default)', engine: 'onnxruntime', flags: ['--set', 'model.flip_tta=false'], tolerance: 0.05, boxPx: 3 },
  { name: 'onnxruntime fp32', engine: 'onnxruntime', flags: ['--set', 'model.precision=fp32', '--set', 'detection.precision=fp32'], tolerance: 1e-4, boxPx: 1 },
  { name: 'tfjs-wasm', engine: 'tfjs-wasm', flags: [], tolerance: 1e-4, boxPx: 1 },
] as const;
/**
 * One classify under qemu: 15 to 230 s with fer-vgg-s 1.5.1 (the int8 runs time both precisions first); fer-vgg-m,
 * about twice the work, took 6 min for one int8 run beside two other busy processes on 2 cores. The bound only
 * stops a hung run, so it is generous.
 */
const QEMU_RUN_MS = 15 * 60_000;
const TITLE = 'classify under qemu-aarch64 with Debian arm64 Node.js matches x64 (onnxruntime int8 and fp32, tfjs-wasm)';

const secs = (ms: number): string => (ms / 1000).toFixed(1);

/** The lowest Node major the package declares (`engines.node` ">=N"). */
function minNodeMajor(): number {
  const pkg = JSON.parse(readFileSync(path.join(packageRoot, 'package.json'), 'utf8')) as { engines?: { node?: string } };
  const m = /^>=\s*(\d+)/.exec(pkg.engines?.node ?? '');
  if (!m) throw new Error(`package.json engines.node is not of the form ">=N": ${String(pkg.engines?.node)}`);
  return Number(m[1]);
}

const MODEL = modelUnderTest();
const unavailable = await arm64Unavailable();

if (unavailable !== null) {
  process.stderr.write(`test/deploy/arm64: SKIPPED, the arm64 sysroot cannot be built here: ${unavailable}\n`);
  test.skip(`${TITLE} (skipped: ${unavailable})`, () => {});
} else {
  test(TITLE, async (t) => {
    t.timeout(15 * 60_000 + 4 * QEMU_RUN_MS, 'a first run downloads Debian packages and npm dependencies; then four qemu runs');
    const t0 = performance.now();
    const rt = await buildArm64Runtime();
    t.log(`sysroot and arm64 node_modules ready in ${secs(performance.now() - t0)} s: ${rt.sysroot}, ${rt.nodeModules}`);

    const app = assembleApp(rt.nodeModules);
    try {
      const v = await runArm64Node(rt, app, ['-p', 'process.arch + " " + process.version'], 120_000);
      t.is(v.code, 0, `arm64 node did not start: ${v.stderr}`);
      const [arch, version = ''] = v.stdout.trim().split(' ');
      t.is(arch, 'arm64');
      t.true(Number(/^v(\d+)/.exec(version)?.[1]) >= minNodeMajor(), `arm64 node ${version} is older than package.json's engines.node`);
      t.log(`arm64 node ${version} under ${rt.qemu} -cpu ${rt.qemuCpu}`);

      const cli = path.join('dist', 'agent', 'cli', 'main.js');
      for (const { name, engine, flags, tolerance, boxPx } of VARIANTS) {
        const args = [cli, 'classify', SAMPLE, '--engine', engine, ...MODEL.args, ...flags, '--log-level', 'error'];
        const x64 = await exec(process.execPath, args, { cwd: packageRoot, env: cleanEnv(), timeoutMs: 120_000 });
        t.is(x64.code, 0, `x64 classify ${name} failed: ${x64.stderr}`);
        const ref = parseClassifyOutput(x64.stdout);
        t.true(ref.faces.length > 0, `x64 finds no face in ${SAMPLE} with ${name}: nothing to compare`);
        t.is(ref.engine, engine);

        const arm = await runArm64Node(rt, app, args, QEMU_RUN_MS);
        t.is(arm.code, 0, `arm64 classify ${name} failed: ${arm.stderr}`);
        const got = parseClassifyOutput(arm.stdout);
        t.deepEqual(compareClassify(ref, got, tolerance, boxPx), [], `${name}: arm64 output differs from x64`);
        const summary = got.faces.map((f) => `${f.emotion} p=${f.probabilities[f.emotion]} face=${f.score}`).join(', ');
        t.log(`${name} (${MODEL.label}): x64 ${secs(x64.ms)} s, arm64 under qemu ${secs(arm.ms)} s; ${summary}`);
        if (name === 'onnxruntime int8 (default)') {
          // The int8 default also on a Pi 5's core (Cortex-A76: dot-product instructions, other int8 kernels than
          // the A72's), against x64 and against the A72.
          const a76 = await runArm64Node({ ...rt, qemuCpu: 'cortex-a76' }, app, args, QEMU_RUN_MS);
          t.is(a76.code, 0, `arm64 (cortex-a76) classify ${name} failed: ${a76.stderr}`);
          const got76 = parseClassifyOutput(a76.stdout);
          t.deepEqual(compareClassify(ref, got76, tolerance, boxPx), [], `${name}: arm64 cortex-a76 output differs from x64`);
          t.deepEqual(compareClassify(got, got76, tolerance, boxPx), [], `${name}: cortex-a76 differs from cortex-a72`);
          t.log(`${name} on cortex-a76: ${got76.faces.map((f) => `${f.emotion} p=${f.probabilities[f.emotion]} face=${f.score}`).join(', ')}`);
        }
      }
    } finally {
      rmSync(app, { recursive: true, force: true });
    }
  });
}
