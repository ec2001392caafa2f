/**
 * Decodes CenterFace's output maps into faces in detector-input pixels (pure).
 *
 * The network predicts, per cell of a grid at stride 4: a face-centre probability (heatmap), the log of the box
 * height and width in cells (scale), the centre's sub-cell offset (y, x) and five landmarks as (y, x) fractions of
 * the box measured from its top-left corner. Checked against the model's real outputs on the sample images
 * (test/vision/centerface-detector.test.ts).
 */
import { FerError } from '../core/errors.js';
import type { DetectedFace } from '../core/types.js';

export const CENTERFACE_STRIDE = 4;
export const CENTERFACE_LANDMARKS = 5;

/** One image's output maps (batch item 0), each channel-major: channel x height x width. */
export interface CenterFaceMaps {
  /** Map size: the detector input size divided by the stride. */
  width: number;
  height: number;
  /** 1 channel: face-centre score in [0, 1]. */
  heatmap: Float32Array;
  /** 2 channels: log(box height / stride), log(box width / stride). */
  scale: Float32Array;
  /** 2 channels: centre offset y, x in cells. */
  offset: Float32Array;
  /** 10 channels: per landmark (y, x) as fractions of box height and width from the box's top-left. */
  landmarks: Float32Array;
}

function checkLength(name: string, arr: Float32Array, channels: number, cells: number): void {
  if (arr.length < channels * cells) {
    throw new FerError('model_shape_mismatch', `CenterFace output ${name} has ${arr.length} values, expected ${channels} x ${cells}`);
  }
}

/** Every cell scoring above `scoreThreshold` becomes a candidate face (before NMS), in input pixels. */
export function decodeCenterFace(maps: CenterFaceMaps, scoreThreshold: number): DetectedFace[] {
  const { width: w, height: h } = maps;
  const n = w * h;
  checkLength('heatmap', maps.heatmap, 1, n);
  checkLength('scale', maps.scale, 2, n);
  checkLength('offset', maps.offset, 2, n);
  checkLength('landmarks', maps.landmarks, 2 * CENTERFACE_LANDMARKS, n);
  const faces: DetectedFace[] = [];
  for (let i = 0; i < n; i++) {
    const score = maps.heatmap[i]!;
    if (!(score > scoreThreshold)) continue;
    const cy = i / w | 0;
    const cx = i - cy * w;
    const bh = Math.exp(maps.scale[i]!) * CENTERFACE_STRIDE;
    const bw = Math.exp(maps.scale[n + i]!) * CENTERFACE_STRIDE;
    const centreY = (cy + maps.offset[i]! + 0.5) * CENTERFACE_STRIDE;
    const centreX = (cx + maps.offset[n + i]! + 0.5) * CENTERFACE_STRIDE;
    const x = centreX - bw / 2;
    const y = centreY - bh / 2;
    const landmarks: Array<[number, number]> = [];
    for (let k = 0; k < CENTERFACE_LANDMARKS; k++) {
      const ly = maps.landmarks[2 * k * n + i]!;
      const lx = maps.landmarks[(2 * k + 1) * n + i]!;
      landmarks.push([x + lx * bw, y + ly * bh]);
    }
    faces.push({ box: { x, y, width: bw, height: bh }, score, landmarks });
  }
  return faces;
}
