/**
 * The benchmark code keeps working: its pure helpers, and a `--quick` run of the whole bench (tiny counts) on a
 * generated FER2013-format file. Speed is never asserted; structure, counts and correctness are.
 */
import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import { bundledFlipTtaWord } from '../helpers/bundled-model.js';
import { mosquittoAvailable } from '../helpers/mosquitto.js';
import { fixtureBundle, readManifest } from '../models/support.js';
import { FACE_API_LABELS, FER2013_LABELS, HUMAN_LABELS, ferIndexMap, predictedFerClass } from './labels.js';
import type { BenchReport, PipelineRow, ScalingPhase } from './report.js';
import type { ClassifierBenchResult } from './classifier-bench.js';
import { markdownTable, quantile, slope, summarize } from './stats.js';

const run = promisify(execFile);
const RUN_JS = new URL('./run.js', import.meta.url).pathname;

test('quantile interpolates between order statistics and ignores input order', (t) => {
  t.is(quantile([5, 1, 3], 0.5), 3);
  t.is(quantile([1, 2, 3, 4], 0.5), 2.5);
  t.is(quantile([10, 20], 0.95), 19.5);
  t.true(Number.isNaN(quantile([], 0.5)));
  const s = summarize([4, 1, 2, 3]);
  t.deepEqual([s.n, s.p50, s.mean, s.max], [4, 2.5, 2.5, 4]);
});

test('slope finds growth per step and none in flat data', (t) => {
  t.is(slope([0, 1, 2, 3], [10, 12, 14, 16]), 2);
  t.is(slope([0, 1, 2, 3], [7, 7, 7, 7]), 0);
  t.is(slope([1], [1]), 0);
});

test('markdownTable right-aligns numeric columns only', (t) => {
  const md = markdownTable(['name', 'fps'], [['a', '12.5'], ['b', '—']]);
  t.is(md, '| name | fps |\n|---|---:|\n| a | 12.5 |\n| b | — |');
});

test('peer labels map onto FER2013 classes', (t) => {
  // face-api: neutral happy sad angry fearful disgusted surprised
  t.deepEqual(ferIndexMap(FACE_API_LABELS), [6, 3, 4, 0, 2, 1, 5]);
  t.deepEqual(ferIndexMap(HUMAN_LABELS), [0, 1, 2, 3, 4, 5, 6]);
  t.deepEqual(ferIndexMap(FER2013_LABELS), [0, 1, 2, 3, 4, 5, 6]);
  t.throws(() => ferIndexMap(['happy', 'contempt']), { message: /contempt/ });
  // Row 1 of a face-api output with "fearful" highest → FER class 2 (fear).
  const probs = new Float32Array([...[0.9, 0, 0, 0, 0.1, 0, 0], ...[0.1, 0, 0, 0, 0.8, 0.1, 0]]);
  t.is(predictedFerClass(probs, 0, ferIndexMap(FACE_API_LABELS)), 6);
  t.is(predictedFerClass(probs, 1, ferIndexMap(FACE_API_LABELS)), 2);
});

/** A FER2013-format CSV: `rows` PublicTest and a few Training rows of seeded noise, plus one malformed row. */
function ferCsv(dir: string, rows: number): string {
  let x = 7;
  const pixels = (): string =>
    Array.from({ length: 48 * 48 }, () => {
      x = (x * 1103515245 + 12345) >>> 0;
      return String(x >>> 24);
    }).join(' ');
  const lines = ['emotion,pixels,Usage'];
  for (let i = 0; i < 3; i++) lines.push(`${i},${pixels()},Training`);
  for (let i = 0; i < rows; i++) lines.push(`${i % 7},${pixels()},PublicTest`);
  lines.push('3,1 2 3,PublicTest');
  const file = path.join(dir, 'fer.csv.gz');
  writeFileSync(file, gzipSync(lines.join('\n') + '\n'));
  return file;
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-bench-test-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('npm run bench -- --quick runs every part and writes consistent JSON and markdown', async (t) => {
  t.timeout(600_000);
  const dir = tmp(t);
  const fer = ferCsv(dir, 20);
  const out = path.join(dir, 'out');
  const { stdout } = await run(process.execPath, [RUN_JS, '--quick', '--out', out, '--fer', fer], { timeout: 590_000, maxBuffer: 16 << 20 });
  const report = JSON.parse(readFileSync(path.join(out, 'bench.json'), 'utf8')) as BenchReport;
  const md = readFileSync(path.join(out, 'bench.md'), 'utf8');
  t.is(stdout, md, 'stdout carries the same markdown as bench.md');

  const c = report.classifier as ClassifierBenchResult;
  t.deepEqual(c.models.map((m) => m.id), ['ours-onnxruntime', 'ours-onnxruntime-fp32', 'ours-onnxruntime-flip', 'ours-tfjs-wasm', 'face-api-tfjs-wasm', 'human-tfjs-wasm']);
  t.is(c.data.rows, 20);
  t.is(c.data.malformed, 1, 'the malformed row is counted, not silently dropped');
  for (const m of c.models) {
    for (const b of [1, 8]) {
      const s = c.speed.find((r) => r.model === m.id && r.batch === b);
      t.truthy(s, `${m.id} @${b}`);
      t.true(s!.faces >= b && s!.facesPerS > 0);
    }
    const a = c.accuracy.find((r) => r.model === m.id)!;
    t.is(a.n, 20);
    t.true(a.accuracy >= 0 && a.accuracy <= 1);
  }
  // The crop cost: three face sizes, both forms measured.
  t.deepEqual(c.crop?.map((r) => r.faceSide), [60, 120, 200]);
  for (const r of c.crop!) t.true(r.uprightUs > 0 && r.levelledUs > 0, JSON.stringify(r));
  t.regex(md, /Roll alignment \(detection\.roll_align.*: 60-pixel face [\d.,]+ vs [\d.,]+ µs/);
  // The same float model on two engines makes the same predictions (noise crops may tie: allow one flip).
  const onnx = c.accuracy.find((r) => r.model === 'ours-onnxruntime-fp32')!;
  const wasm = c.accuracy.find((r) => r.model === 'ours-tfjs-wasm')!;
  t.true(Math.abs(onnx.accuracy - wasm.accuracy) <= 1 / 20 + 1e-9);

  const rows = report.pipeline as PipelineRow[];
  t.deepEqual(rows.map((r) => r.config), ['centerface-onnxruntime', 'centerface-onnxruntime-2t', 'centerface-onnxruntime-whole', 'centerface-onnxruntime-fp32-320', 'tiny-tfjs-wasm', 'ssd-tfjs-wasm', 'faceapi-baseline']);
  for (const r of rows) {
    t.deepEqual(r.sets.filter((s) => !s.scene).map((s) => s.faces), [0, 1, 3]);
    t.is(r.sets.some((s) => s.scene === 'still'), r.config.startsWith('centerface'), `${r.config}: the still scene runs on CenterFace configurations`);
    t.is(r.sets.filter((s) => s.scene === 'paced').length, r.config.startsWith('centerface') ? 2 : 0, `${r.config}: paced scenes for 1 and 3 faces on CenterFace`);
    for (const s of r.sets) t.true(s.frames >= 2 && s.fps > 0 && s.cpuMsPerFrame > 0, `${r.config}/${s.faces}`);
    t.true(r.peakRssMiB > 0);
  }
  // CenterFace finds exactly what each set holds (the composed frames really have three faces).
  const cf = rows[0]!;
  t.deepEqual(cf.sets.map((s) => [s.scene ?? 'back to back', s.facesFound]), [['back to back', 0], ['back to back', 1], ['back to back', 3], ['paced', 1], ['paced', 3], ['hd', 1], ['hd-full', 1], ['still', 0], ['still-full', 0]], 'and none in the still empty scene');
  // Follow regions: used with faces by default, never with follow_regions off or without faces.
  const share = (id: string, faces: number): number | undefined => rows.find((r) => r.config === id)?.sets.find((s) => s.faces === faces && !s.scene)?.regionShare;
  t.true(share('centerface-onnxruntime', 1)! > 0.5, `default, 1 face: ${share('centerface-onnxruntime', 1)}`);
  t.is(share('centerface-onnxruntime', 0), 0);
  t.is(share('centerface-onnxruntime-whole', 1), 0);
  t.is(share('tiny-tfjs-wasm', 1), 0, "face-api's detectors always search the whole frame");
  t.true(md.includes('A 1920x1080 camera, one face:'), 'the 1080p comparison is reported');
  t.regex(md, /Ours with flip TTA .* faces\/s = \*\*[\d.]+×\*\* human's; PublicTest/, 'the form flip_tta auto may run is held to the speed target too');
  t.regex(md, bundledFlipTtaWord === 'off' ? /Ours with flip TTA \(which model\.flip_tta auto never runs with this bundle/ : /Ours with flip TTA \(what model\.flip_tta auto runs where/,
    `the row says whether auto may run it, as the bundled manifest's runtime.flip_tta (${bundledFlipTtaWord}) says`);
  t.true(md.includes('Idle gating on a shrink-on-load preview'), 'the still room is reported on previews and on full decodes, side by side');
  t.is(cf.engine, 'onnxruntime');
  // A person appearing in a still room gets an event: debouncing's minimum duration, plus at most a few frames.
  t.truthy(cf.appear, 'the appear scene ran');
  t.true(cf.appear!.latencyMs !== null && cf.appear!.latencyMs >= cf.appear!.minDurationMs - 150, JSON.stringify(cf.appear));

  if (mosquittoAvailable()) {
    t.truthy(cf.mqttLatency['1'], 'state messages for the one-face set arrived from the broker');
    const phases = report.scaling as ScalingPhase[];
    t.is(phases.length, 1);
    t.true(phases[0]!.eventsSent > 0);
    t.is(phases[0]!.eventsReceived, phases[0]!.eventsSent, 'every QoS 1 event reached the subscriber');
    t.true(phases[0]!.messagesPerS > 0);
  } else {
    t.log('mosquitto not installed: MQTT parts skipped');
  }
  for (const h of ['## Expression classifier', '## Pipeline (640x480)', '## Many agents, one broker', '| Model | Engine |']) t.true(md.includes(h), h);
});

test('without the dataset the accuracy column is skipped with a note', async (t) => {
  t.timeout(300_000);
  const dir = tmp(t);
  const out = path.join(dir, 'out');
  const missing = path.join(dir, 'no-such-fer.csv.gz');
  await run(process.execPath, [RUN_JS, '--quick', '--only', 'classifier', '--out', out, '--fer', missing], { timeout: 290_000 });
  const report = JSON.parse(readFileSync(path.join(out, 'bench.json'), 'utf8')) as BenchReport;
  const c = report.classifier as ClassifierBenchResult;
  t.false(c.data.present);
  t.deepEqual(c.accuracy, []);
  t.true(c.speed.length > 0, 'speed is still measured, on synthetic crops');
  t.regex(readFileSync(path.join(out, 'bench.md'), 'utf8'), /Accuracy not measured: .*no-such-fer\.csv\.gz not found/);
});

test('--model benches another bundle as ours, beside the same peers, with its runtime.flip_tta, speed only with --no-accuracy; a directory without a bundle is named', async (t) => {
  t.timeout(300_000);
  const dir = tmp(t);
  const out = path.join(dir, 'out');
  // A candidate whose release keeps flip TTA off (a wider net): the flip row is still measured, and said not to run.
  const candidate = path.join(dir, 'candidate');
  cpSync(fixtureBundle(), candidate, { recursive: true });
  const m = readManifest(candidate);
  writeFileSync(path.join(candidate, 'manifest.json'), JSON.stringify({ ...m, runtime: { flip_tta: 'off' } }));
  const missing = path.join(dir, 'no-such-fer.csv.gz');
  // As a release is benched: speed only, with the dataset there (its crops are the inputs) and nothing scored on it.
  const { stdout } = await run(process.execPath, [RUN_JS, '--quick', '--only', 'classifier', '--out', out, '--fer', ferCsv(dir, 20), '--model', candidate, '--no-accuracy'], { timeout: 290_000 });
  const report = JSON.parse(readFileSync(path.join(out, 'bench.json'), 'utf8')) as BenchReport;
  const c = report.classifier as ClassifierBenchResult;
  t.true(c.data.present);
  t.is(c.data.rows, 20, 'the crops were read, as speed inputs');
  t.deepEqual(c.accuracy, [], '--no-accuracy scores no model');
  t.regex(readFileSync(path.join(out, 'bench.md'), 'utf8'), /Accuracy not measured: --no-accuracy: speed only/);
  t.true(stdout.includes('--no-accuracy'), 'the report says it ran speed only');
  const ours = c.models.filter((x) => x.id.startsWith('ours-'));
  t.is(ours.length, 4);
  for (const x of ours) t.true(x.name.includes(`${String(m.name)}@${m.version}`), `${x.id}: ${x.name}`);
  t.true(c.models.some((x) => x.id === 'human-tfjs-wasm'), 'the peers still run');
  t.true(stdout.includes(`--model ${candidate}`), 'the report says which bundle it benched');
  t.is(ours.find((x) => x.id === 'ours-onnxruntime-flip')?.flipTtaAuto, 'off');
  t.regex(readFileSync(path.join(out, 'bench.md'), 'utf8'), /Ours with flip TTA \(which model\.flip_tta auto never runs with this bundle: its manifest's runtime\.flip_tta is off\)/);

  const empty = path.join(dir, 'empty');
  mkdirSync(empty);
  const err = await t.throwsAsync(run(process.execPath, [RUN_JS, '--quick', '--only', 'classifier', '--out', out, '--fer', missing, '--model', empty], { timeout: 60_000 }));
  t.regex((err as Error & { stderr: string }).stderr, new RegExp(`--model ${empty.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: no manifest\\.json`));
});
