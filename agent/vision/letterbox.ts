/**
 * Letterbox geometry for detectors with a fixed input: the frame is scaled to fit (aspect kept) and placed at the
 * top-left of the input; the rest is padding. Pure.
 */
import type { Box, DetectedFace } from '../core/types.js';

export interface Letterbox {
  /** Detector input size (multiples of `multiple`). */
  inputWidth: number;
  inputHeight: number;
  /** The scaled frame inside the input, at (0, 0). */
  contentWidth: number;
  contentHeight: number;
  /** Input pixels per frame pixel. */
  scale: number;
}

export function roundUpTo(n: number, multiple: number): number {
  return Math.max(multiple, Math.ceil(n / multiple) * multiple);
}

/** Fits a frame into the requested input size, rounded up to multiples of `multiple`. */
export function letterbox(frameWidth: number, frameHeight: number, wantWidth: number, wantHeight: number, multiple = 32): Letterbox {
  const inputWidth = roundUpTo(wantWidth, multiple);
  const inputHeight = roundUpTo(wantHeight, multiple);
  const scale = Math.min(inputWidth / frameWidth, inputHeight / frameHeight);
  return {
    inputWidth,
    inputHeight,
    contentWidth: Math.max(1, Math.min(inputWidth, Math.round(frameWidth * scale))),
    contentHeight: Math.max(1, Math.min(inputHeight, Math.round(frameHeight * scale))),
    scale,
  };
}

/** Clips a box to [0, width] x [0, height]; may return a zero-sized box. */
export function clipBox(b: Box, width: number, height: number): Box {
  const x0 = Math.min(Math.max(b.x, 0), width);
  const y0 = Math.min(Math.max(b.y, 0), height);
  const x1 = Math.min(Math.max(b.x + b.width, 0), width);
  const y1 = Math.min(Math.max(b.y + b.height, 0), height);
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/** Maps a face from detector-input pixels back to frame pixels, clipped to the frame. */
export function faceToFrame(face: DetectedFace, lb: Letterbox, frameWidth: number, frameHeight: number): DetectedFace {
  const s = 1 / lb.scale;
  const box = clipBox({ x: face.box.x * s, y: face.box.y * s, width: face.box.width * s, height: face.box.height * s }, frameWidth, frameHeight);
  const out: DetectedFace = { box, score: face.score };
  if (face.landmarks) out.landmarks = face.landmarks.map(([x, y]) => [x * s, y * s]);
  return out;
}
