/**
 * `fer-agent classify <image|dir>`: per-face emotions for still images, through the same detector, preprocessing
 * and classifier as the agent. Prints one JSON line per image (file, faces with box, score, emotion, probabilities).
 */
import { stateDirCache } from '../pipeline/precision-cache.js';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { loadConfig, resolveCameras } from '../config/load.js';
import { FerError, errorMessage } from '../core/errors.js';
import { createLogger } from '../core/log.js';
import { decodeFrame } from '../sources/decode.js';
import { setupClassifier } from '../pipeline/classifier-setup.js';
import { commandModelDir } from './serving-model.js';
import { Preprocessor } from '../emotion/preprocess.js';
import { createDetector } from '../vision/create-detector.js';
import { cropRolls } from '../vision/face-roll.js';
import { overridesFrom, parse } from './args.js';

const IMAGE_RE = /\.(jpe?g|png|webp|bmp|tiff?|gif)$/i;

export async function classifyCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parse(argv);
  if (values.help || positionals.length === 0) {
    process.stdout.write('usage: fer-agent classify <image|dir>... [--engine E] [--model DIR]\n');
    return values.help ? 0 : 2;
  }
  const cfg = loadConfig({ file: values.config as string | undefined, overrides: overridesFrom(values) });
  const log = createLogger(cfg.log_level);
  const files: string[] = [];
  for (const p of positionals) {
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new FerError('io_failed', `${p}: no such file or directory`);
    if (st.isDirectory()) files.push(...(await readdir(p)).filter((f) => IMAGE_RE.test(f)).sort().map((f) => path.join(p, f)));
    else files.push(p);
  }
  const model = await setupClassifier(cfg, await commandModelDir(cfg, values.model, log), log);
  const detection = resolveCameras(cfg)[0]?.detection ?? cfg.detection;
  const detector = await createDetector(detection, model.choice.engine, cfg.threads, log, stateDirCache(cfg.model.state_dir, log));
  const pre = new Preprocessor(model.classifier.spec);
  const labels = model.classifier.labels;
  let failed = 0;
  try {
    for (const file of files) {
      try {
        const frame = await decodeFrame('classify', { seq: 0, monoMs: 0, wallMs: Date.now(), bytes: await readFile(file) });
        const faces = await detector.detect(frame);
        const rolls = cropRolls(faces, detection);
        const probs = faces.length ? await model.classifier.classify(pre.run(frame, faces.map((f) => f.box), rolls), faces.length) : new Float32Array(0);
        const out = faces.map((f, i) => {
          const p = Array.from(probs.subarray(i * labels.length, (i + 1) * labels.length));
          const best = p.indexOf(Math.max(...p));
          return {
            box: { x: Math.round(f.box.x), y: Math.round(f.box.y), width: Math.round(f.box.width), height: Math.round(f.box.height) },
            score: Number(f.score.toFixed(4)),
            ...(rolls ? { roll_deg: Number(((rolls[i]! * 180) / Math.PI).toFixed(1)) } : {}),
            emotion: labels[best],
            probabilities: Object.fromEntries(labels.map((l, j) => [l, Number(p[j]!.toFixed(6))])),
          };
        });
        process.stdout.write(JSON.stringify({ file, engine: model.choice.engine, model: `${model.name}@${model.version}`, faces: out }) + '\n');
      } catch (err) {
        failed++;
        process.stdout.write(JSON.stringify({ file, error: errorMessage(err) }) + '\n');
      }
    }
  } finally {
    await detector.dispose();
    await model.classifier.dispose();
  }
  return failed ? 1 : 0;
}
