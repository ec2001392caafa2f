/**
 * `fer-agent eval --data <fer2013.csv[.gz] | folder with one subfolder per label> [--usage PublicTest]`:
 * accuracy, per-class precision/recall and confusion matrix of a bundle on 48x48 crops or images.
 * `fer-agent eval --frames <folder>`: on whole camera frames, detector included (eval-frames.ts).
 * The last line of output is one JSON object (accuracy, n, engine, ...), for scripts and CI.
 */
import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { loadConfig } from '../config/load.js';
import { FerError } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import type { Frame } from '../core/types.js';
import { Preprocessor } from '../emotion/preprocess.js';
import { evalInputProblem, EVAL_HELP, type PathFacts } from '../evaluation/eval-input.js';
import { readFerCsv } from '../evaluation/fer-csv.js';
import { loadBundle } from '../models/bundle.js';
import { argmax } from '../core/probabilities.js';
import { ConfusionCounter } from '../evaluation/metrics.js';
import { setupClassifier } from '../pipeline/classifier-setup.js';
import { commandModelDir } from './serving-model.js';
import { overridesFrom, parse, UsageError } from './args.js';
import { ProgressLine } from './progress.js';

interface Sample {
  truth: number;
  frame: Frame;
}

async function* folderSamples(root: string, labels: readonly string[]): AsyncGenerator<Sample> {
  const dirs = (await readdir(root, { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => d.name).sort();
  for (const d of dirs) {
    const truth = labels.indexOf(d);
    if (truth < 0) throw new FerError('io_failed', `${path.join(root, d)}: folder name is not a model label (${labels.join(', ')})`);
    for (const f of (await readdir(path.join(root, d))).filter((n) => IMAGE_RE.test(n)).sort()) {
      const { data, info } = await sharp(path.join(root, d, f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const channels = info.channels === 1 ? 1 : 3;
      yield { truth, frame: { cameraId: 'eval', seq: 0, monoMs: 0, wallMs: 0, width: info.width, height: info.height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) } };
    }
  }
}

const IMAGE_RE = /\.(jpe?g|png|webp|bmp|tiff?)$/i;

/** The facts evalInputProblem decides on: existence, layout, and the size of a sample of the images. */
async function pathFacts(p: string): Promise<PathFacts> {
  const st = await stat(p).catch(() => null);
  const facts: PathFacts = { exists: st !== null, isDir: st?.isDirectory() ?? false, subdirs: [], topImages: 0, labelImages: 0, medianShortSide: null };
  if (!st?.isDirectory()) return facts;
  const entries = await readdir(p, { withFileTypes: true });
  facts.subdirs = entries.filter((e) => e.isDirectory()).map((e) => e.name).sort();
  facts.topImages = entries.filter((e) => e.isFile() && IMAGE_RE.test(e.name)).length;
  const files: string[] = [];
  for (const d of facts.subdirs) for (const f of (await readdir(path.join(p, d)).catch(() => [])).filter((n) => IMAGE_RE.test(n))) files.push(path.join(p, d, f));
  facts.labelImages = files.length;
  const sides: number[] = [];
  for (const f of files.slice(0, 25)) {
    const m = await sharp(f).metadata().catch(() => null);
    if (m?.width && m.height) sides.push(Math.min(m.width, m.height));
  }
  sides.sort((a, b) => a - b);
  facts.medianShortSide = sides.length ? sides[Math.floor(sides.length / 2)]! : null;
  return facts;
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { data: { type: 'string' }, frames: { type: 'string' }, usage: { type: 'string' }, batch: { type: 'string' }, limit: { type: 'string' }, crops: { type: 'boolean' } });
  if (values.help || (typeof values.data !== 'string') === (typeof values.frames !== 'string')) {
    process.stdout.write(EVAL_HELP);
    return values.help ? 0 : 2;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  const limit = values.limit ? Number(values.limit) : Infinity;
  if (!(limit > 0)) throw new FerError('config_invalid', `--limit = ${JSON.stringify(values.limit)} is invalid: expected a positive number`);
  const modelDir = await commandModelDir(cfg, values.model, log);
  // What the user gave must fit the mode, checked before the model loads: each wrong fit says what to run instead.
  const mode = typeof values.frames === 'string' ? 'frames' : 'data';
  const given = (mode === 'frames' ? values.frames : values.data) as string;
  const { manifest } = await loadBundle(modelDir);
  const problem = evalInputProblem(mode, given, await pathFacts(given), manifest.labels, manifest.input.width, values.crops === true);
  if (problem) throw new UsageError(problem);
  if (typeof values.frames === 'string') return (await import('./eval-frames.js')).evalFrames(cfg, modelDir, values.frames, log, limit);
  const data = values.data as string;
  const usage = typeof values.usage === 'string' ? values.usage : 'PublicTest';
  const usagesSeen = new Map<string, number>();
  const batch = Math.max(1, Number(values.batch ?? 64));
  const model = await setupClassifier(cfg, modelDir, log);
  const { classifier } = model;
  const labels = classifier.labels;
  // The eval crops are already faces: use them whole (no detector margin).
  const pre = new Preprocessor({ ...classifier.spec, faceCrop: { margin: 0, square: false } });
  const per = classifier.spec.input.width * classifier.spec.input.height * classifier.spec.input.channels;
  const counter = new ConfusionCounter(labels);
  let skipped = 0;
  const isDir = (await stat(data)).isDirectory();
  const samples: AsyncIterable<Sample> = isDir ? folderSamples(data, labels) : (async function* () {
    for await (const row of readFerCsv(data, (p) => {
      skipped++;
      log.warn({ file: data, line: p.line, reason: p.reason }, 'skipped malformed row');
    })) {
      usagesSeen.set(row.usage, (usagesSeen.get(row.usage) ?? 0) + 1);
      if (row.usage !== usage) continue;
      if (row.label >= labels.length) {
        skipped++;
        log.warn({ file: data, line: row.line }, `label ${row.label} has no model label`);
        continue;
      }
      yield { truth: row.label, frame: { cameraId: 'eval', seq: 0, monoMs: 0, wallMs: 0, width: 48, height: 48, channels: 1, data: row.pixels } };
    }
  })();
  const input = new Float32Array(per * batch);
  const truths: number[] = [];
  const progress = new ProgressLine(process.stderr, 'eval');
  let n = 0;
  const flush = async (): Promise<void> => {
    if (!truths.length) return;
    const probs = await classifier.classify(input, truths.length);
    truths.forEach((t, i) => counter.add(t, argmax(probs, i * labels.length, labels.length)));
    n += truths.length;
    progress.update(`${n} faces, accuracy ${(counter.summary().accuracy * 100).toFixed(2)}%`);
    truths.length = 0;
  };
  const t0 = performance.now();
  for await (const s of samples) {
    if (n + truths.length >= limit) break;
    const x = pre.run(s.frame, [{ x: 0, y: 0, width: s.frame.width, height: s.frame.height }]);
    input.set(x, truths.length * per);
    truths.push(s.truth);
    if (truths.length === batch) await flush();
  }
  await flush();
  progress.done();
  const seconds = (performance.now() - t0) / 1000;
  await classifier.dispose();
  const summary = counter.summary();
  if (summary.n === 0) {
    const seen = [...usagesSeen].map(([u, k]) => `${u} (${k})`).join(', ');
    throw new FerError('io_failed', isDir ? `${data}: no image could be scored` : `${data}: no rows with Usage=${usage}${seen ? `; the file has ${seen}: pass --usage` : ''}`);
  }
  // A folder has no Usage column: say what was scored.
  const scored = isDir ? 'folder' : usage;
  const form = `${classifier.spec.precision}${model.flipTta.on ? ' + flip TTA' : ''}`;
  const lines = [`model ${model.name}@${model.version} on ${model.choice.engine} (${form}): accuracy ${(summary.accuracy * 100).toFixed(2)}% on ${summary.n} faces (${scored})`];
  lines.push('class        support  precision  recall');
  for (const c of summary.per_class) lines.push(`${c.label.padEnd(12)} ${String(c.support).padStart(7)}  ${(c.precision * 100).toFixed(1).padStart(8)}%  ${(c.recall * 100).toFixed(1).padStart(5)}%`);
  lines.push('confusion (rows: truth, columns: predicted) ' + labels.join(' '));
  summary.confusion.forEach((r, i) => lines.push(`${labels[i]!.padEnd(12)} ${r.map((v) => String(v).padStart(5)).join(' ')}`));
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(JSON.stringify({ accuracy: summary.accuracy, n: summary.n, engine: model.choice.engine, precision: classifier.spec.precision, flip_tta: model.flipTta.on, model: `${model.name}@${model.version}`, usage: scored, skipped, seconds, per_class: summary.per_class, confusion: summary.confusion }) + '\n');
  return 0;
}
