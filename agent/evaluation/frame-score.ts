/**
 * Scoring for whole-frame evaluation (`fer-agent eval --frames`), pure: each labelled frame either had its face
 * found and classified, or missed (which counts as wrong overall). Where the frame's file name carries the true
 * face box (`..._b<x>-<y>-<w>-<h>.<ext>`, as training/tools/make_frame_set.py writes), a detection only counts
 * when it overlaps that box, and the detector's box is measured against it (how the crop lines up with the face).
 */
import { iou } from '../core/geometry.js';
import type { Box, DetectedFace } from '../core/types.js';
import { ConfusionCounter, type EvalSummary } from './metrics.js';

/** A detection must overlap the true face this much to be that face (and not a false positive elsewhere). */
export const MATCH_IOU = 0.3;

const BOX_RE = /_b(\d+)-(\d+)-(\d+)-(\d+)\.[A-Za-z0-9]+$/;

/** The true face box a file name carries, if any. */
export function truthBoxFromName(name: string): Box | null {
  const m = BOX_RE.exec(name);
  if (!m) return null;
  const [x, y, width, height] = m.slice(1).map(Number) as [number, number, number, number];
  return width > 0 && height > 0 ? { x, y, width, height } : null;
}

/** The detection that is the frame's face: the best overlap with the truth box, else the highest score. */
export function pickFace(faces: readonly DetectedFace[], truth: Box | null): DetectedFace | null {
  if (faces.length === 0) return null;
  if (truth) {
    let best: DetectedFace | null = null;
    let bestIou = MATCH_IOU;
    for (const f of faces) {
      const o = iou(f.box, truth);
      if (o >= bestIou) [best, bestIou] = [f, o];
    }
    return best;
  }
  return faces.reduce((a, b) => (b.score > a.score ? b : a));
}

export interface FrameSummary {
  frames: number;
  found: number;
  /** Detections that are not the frame's face (counted only in frames whose name carries the true box). */
  false_positives: number;
  /** Share of frames whose face was found. */
  detection_recall: number;
  /** Accuracy over the frames whose face was found. */
  accuracy_found: number;
  /** Accuracy over all frames: a missed face counts as wrong. */
  accuracy: number;
  per_class: Array<{ label: string; frames: number; found: number; recall: number }>;
  /** Among found faces: the classifier alone. */
  found_faces: EvalSummary;
  /**
   * Where the detector's box sits on the true face, as fractions of the true box's side (mean over matched faces):
   * centre offset right/down and width/height ratio. Null when no file name carried a box.
   */
  box_vs_truth: { dx: number; dy: number; width: number; height: number; n: number } | null;
}

export class FrameScore {
  private readonly found: ConfusionCounter;
  private readonly missed: number[];
  private readonly sums = { dx: 0, dy: 0, width: 0, height: 0, n: 0 };
  private falsePositives = 0;

  constructor(readonly labels: readonly string[]) {
    this.found = new ConfusionCounter(labels);
    this.missed = labels.map(() => 0);
  }

  /**
   * One frame: its true label, the detection taken as its face (null: missed), the predicted label, and, when known,
   * the true box and all the frame's detections (the others are false positives).
   */
  add(truth: number, face: DetectedFace | null, predicted: number | null, truthBox: Box | null = null, all: readonly DetectedFace[] = []): void {
    if (truthBox) this.falsePositives += all.filter((f) => f !== face).length;
    if (!face || predicted === null) {
      this.missed[truth]!++;
      return;
    }
    this.found.add(truth, predicted);
    if (truthBox) {
      const s = truthBox.width;
      this.sums.dx += (face.box.x + face.box.width / 2 - (truthBox.x + truthBox.width / 2)) / s;
      this.sums.dy += (face.box.y + face.box.height / 2 - (truthBox.y + truthBox.height / 2)) / truthBox.height;
      this.sums.width += face.box.width / truthBox.width;
      this.sums.height += face.box.height / truthBox.height;
      this.sums.n++;
    }
  }

  summary(): FrameSummary {
    const f = this.found.summary();
    const missed = this.missed.reduce((a, b) => a + b, 0);
    const frames = f.n + missed;
    const correct = Math.round(f.accuracy * f.n);
    const per_class = this.labels.map((label, c) => {
      const found = f.confusion[c]!.reduce((a, b) => a + b, 0);
      const n = found + this.missed[c]!;
      return { label, frames: n, found, recall: n ? f.confusion[c]![c]! / n : 0 };
    });
    const s = this.sums;
    return {
      frames,
      found: f.n,
      false_positives: this.falsePositives,
      detection_recall: frames ? f.n / frames : 0,
      accuracy_found: f.accuracy,
      accuracy: frames ? correct / frames : 0,
      per_class,
      found_faces: f,
      box_vs_truth: s.n ? { dx: s.dx / s.n, dy: s.dy / s.n, width: s.width / s.n, height: s.height / s.n, n: s.n } : null,
    };
  }
}
