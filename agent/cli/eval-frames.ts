/**
 * `fer-agent eval --frames <dir>`: accuracy on whole camera frames, through the agent's real path (decode, face
 * detector, crop, preprocessing, classifier; no tracking). `<dir>` has one subfolder per label; a frame whose face
 * is not found counts as wrong. The last line of output is one JSON object, for scripts and CI.
 */
import { stateDirCache } from '../pipeline/precision-cache.js';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import type { AgentConfig } from '../config/schema.js';
import { resolveCameras } from '../config/load.js';
import { FerError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { Preprocessor } from '../emotion/preprocess.js';
import { FrameScore, pickFace, truthBoxFromName } from '../evaluation/frame-score.js';
import { argmax } from '../core/probabilities.js';
import { setupClassifier } from '../pipeline/classifier-setup.js';
import { decodeFrame } from '../sources/decode.js';
import { createDetector } from '../vision/create-detector.js';
import { cropRolls } from '../vision/face-roll.js';
import { ProgressLine } from './progress.js';

const IMAGE_RE = /\.(jpe?g|png|webp|bmp|tiff?)$/i;

async function listFrames(root: string, labels: readonly string[]): Promise<Array<{ file: string; truth: number }>> {
  const entries = await readdir(root, { withFileTypes: true }).catch(() => {
    throw new FerError('io_failed', `${root}: not a readable folder`);
  });
  const out: Array<{ file: string; truth: number }> = [];
  for (const d of entries.filter((e) => e.isDirectory()).map((e) => e.name).sort()) {
    const truth = labels.indexOf(d);
    if (truth < 0) throw new FerError('io_failed', `${path.join(root, d)}: folder name is not a model label (${labels.join(', ')})`);
    for (const f of (await readdir(path.join(root, d))).filter((n) => IMAGE_RE.test(n)).sort()) out.push({ file: path.join(root, d, f), truth });
  }
  if (out.length === 0) throw new FerError('io_failed', `${root}: no images in label subfolders (${labels.join(', ')})`);
  return out;
}

export async function evalFrames(cfg: AgentConfig, modelDir: string, root: string, log: Logger, limit: number): Promise<number> {
  const model = await setupClassifier(cfg, modelDir, log);
  const { classifier } = model;
  const labels = classifier.labels;
  const detection = resolveCameras(cfg)[0]?.detection ?? cfg.detection;
  const detector = await createDetector(detection, model.choice.engine, cfg.threads, log, stateDirCache(cfg.model.state_dir, log));
  const pre = new Preprocessor(classifier.spec);
  const score = new FrameScore(labels);
  const progress = new ProgressLine(process.stderr, 'eval');
  let corrupt = 0;
  const t0 = performance.now();
  try {
    const frames = (await listFrames(root, labels)).slice(0, limit);
    for (const [i, { file, truth }] of frames.entries()) {
      let frame;
      try {
        frame = await decodeFrame('eval', { seq: i, monoMs: 0, wallMs: 0, bytes: await readFile(file) });
      } catch (err) {
        corrupt++;
        log.warn({ file, err: String(err) }, 'frame not decodable: counted as missed');
        score.add(truth, null, null);
        continue;
      }
      const truthBox = truthBoxFromName(path.basename(file));
      const faces = await detector.detect(frame);
      const face = pickFace(faces, truthBox);
      let predicted: number | null = null;
      if (face) predicted = argmax(await classifier.classify(pre.run(frame, [face.box], cropRolls([face], detection)), 1), 0, labels.length);
      score.add(truth, face, predicted, truthBox, faces);
      const s = score.summary();
      progress.update(`${i + 1}/${frames.length} frames, faces found ${(s.detection_recall * 100).toFixed(1)}%, accuracy ${(s.accuracy * 100).toFixed(2)}%`);
    }
  } finally {
    progress.done();
    await detector.dispose();
    await classifier.dispose();
  }
  const s = score.summary();
  const seconds = (performance.now() - t0) / 1000;
  const pct = (v: number): string => `${(v * 100).toFixed(2)}%`;
  // Say the threshold the detector really applies: face-api has its own key, and CenterFace int8 maps the configured
  // one onto its own scale (centerface-int8-scores.ts).
  const applied = detector.scoreThreshold ?? detection.score_threshold;
  const thresholdText = detector.name !== 'centerface' ? `${applied} (faceapi_score_threshold)`
    : applied === detection.score_threshold ? `${applied}` : `${detection.score_threshold} (${applied.toFixed(3)} on the int8 model's scale)`;
  const lines = [
    `model ${model.name}@${model.version} on ${model.choice.engine} (${classifier.spec.precision}), detector ${detector.name} ` +
      `${detection.input_width}x${detection.input_height} score >= ${thresholdText}, min face ${detection.min_face_px} px`,
    `frames ${s.frames}, faces found ${s.found} (${pct(s.detection_recall)}), accuracy among found ${pct(s.accuracy_found)}, ` +
      `overall ${pct(s.accuracy)} (a missed face counts as wrong); ${s.false_positives} detections elsewhere (false positives)`,
    'class        frames  found  recall',
    ...s.per_class.map((c) => `${c.label.padEnd(12)} ${String(c.frames).padStart(6)} ${String(c.found).padStart(6)}  ${(c.recall * 100).toFixed(1).padStart(5)}%`),
  ];
  if (s.box_vs_truth) {
    const b = s.box_vs_truth;
    lines.push(`detector box vs true face (fractions of its side): centre ${b.dx >= 0 ? '+' : ''}${b.dx.toFixed(3)} right, ` +
      `${b.dy >= 0 ? '+' : ''}${b.dy.toFixed(3)} down; size ${b.width.toFixed(3)} x ${b.height.toFixed(3)}`);
  }
  process.stdout.write(lines.join('\n') + '\n');
  process.stdout.write(JSON.stringify({
    mode: 'frames', frames: s.frames, found: s.found, false_positives: s.false_positives, detection_recall: s.detection_recall, accuracy_found: s.accuracy_found,
    accuracy: s.accuracy, engine: model.choice.engine, precision: classifier.spec.precision, flip_tta: model.flipTta.on, model: `${model.name}@${model.version}`,
    detection: { detector: detector.name, input_width: detection.input_width, input_height: detection.input_height, score_threshold: detection.score_threshold, applied_score_threshold: applied, min_face_px: detection.min_face_px, roll_align: detection.roll_align, roll_align_min_deg: detection.roll_align_min_deg },
    corrupt, seconds, per_class: s.per_class, box_vs_truth: s.box_vs_truth, confusion_found: s.found_faces.confusion,
  }) + '\n');
  return 0;
}
