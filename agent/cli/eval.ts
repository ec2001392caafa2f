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
import { readFerCsv } from '../evaluation/fer-csv.js';
import { ConfusionCounter, argmax } from '../evaluation/metrics.js';
import { setupClassifier } from '../pipeline/classifier-setup.js';
import { commandModelDir } from './serving-model.js';
import { overridesFrom, parse } from './args.js';
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
    for (const f of (await readdir(path.join(root, d))).sort()) {
      const { data, info } = await sharp(path.join(root, d, f)).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const channels = info.channels === 1 ? 1 : 3;
      yield { truth, frame: { cameraId: 'eval', seq: 0, monoMs: 0, wallMs: 0, width: info.width, height: info.height, channels, data: new Uint8Array(data.buffer, data.byteOffset, data.length) } };
    }
  }
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parse(argv, { data: { type: 'string' }, frames: { type: 'string' }, usage: { type: 'string' }, batch: { type: 'string' }, limit: { type: 'string' } });
  if (values.help || (typeof values.data !== 'string') === (typeof values.frames !== 'string')) {
    process.stdout.write(
      'usage: fer-agent eval --data <fer2013.csv[.gz] | dir> [--usage PublicTest] [--engine E] [--model DIR] [--batch 64] [--limit N]\n' +
        '       fer-agent eval --frames <dir with one subfolder of whole frames per label> [--engine E] [--model DIR] [--set detection.KEY=V] [--limit N]\n',
    );
    return values.help ? 0 : 2;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  const limit = values.limit ? Number(values.limit) : Infinity;
  if (!(limit > 0)) throw new FerError('config_invalid', `--limit = ${JSON.stringify(values.limit)} is invalid: expected a positive number`);
  const modelDir = await commandModelDir(cfg, values.model, log);
  if (typeof values.frames === 'string') return (await import('./eval-frames.js')).evalFrames(cfg, modelDir, values.frames, log, limit);
  const data = values.data as string;
  const usage = typeof values.usage === 'string' ? values.usage : 'PublicTest';
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
  if (summary.n === 0) throw new FerError('io_failed', `${data}: no rows with Usage=${usage}`);
  const lines = [`model ${model.name}@${model.version} on ${model.choice.engine} (${classifier.spec.precision}): accuracy ${(summary.accuracy * 100).toFixed(2)}% on ${summary.n} faces (${usage})`];
  lines.push('class        support  precision  recall');
  for (const c of summary.per_class) lines.push(`${c.label.padEnd(12)} ${String(c.support).padStart(7)}  ${(c.precision * 100).toFixed(1).padStart(8)}%  ${(c.recall * 100).toFixed(1).padStart(5)}%`);
  lines.push('confusion (rows: truth, columns: predicted) ' + labels.join(' '));
  summary.confusion.forEach((r, i) => lines.push(`${labels[i]!.padEnd(12)} ${r.map((v) => String(v).padStart(5)).join(' ')}`));
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(JSON.stringify({ accuracy: summary.accuracy, n: summary.n, engine: model.choice.engine, precision: classifier.spec.precision, model: `${model.name}@${model.version}`, usage, skipped, seconds, per_class: summary.per_class, confusion: summary.confusion }) + '\n');
  return 0;
}
