/**
 * Idle gating, pure: decides per frame whether the face detector needs to run. A home camera sees an empty, still
 * room most of the day; there the detector (most of a frame's CPU) is skipped. It runs when
 *  - a track is alive (faces are being followed: never skip then),
 *  - the frame differs from the one the detector last saw (motion, lights switched on or off),
 *  - or `idleIntervalMs` has passed since the detector last ran (a face that crept in slowly, a missed change).
 * The first frame with motion runs the detector at once, so an event is never delayed by more than that frame.
 *
 * The test: the frame sampled on a coarse grid (GRID x GRID_ROWS cells, up to SAMPLES x SAMPLES pixels averaged per
 * cell, at most about 50k reads for any frame size), compared cell by cell with the reference thumbnail; the agent
 * feeds it a GRID x GRID_ROWS preview decoded at reduced scale (see StagedFrame), one pixel per cell; motion when at least
 * `minChangedCells` cells moved by more than `cellDelta` grey levels. Averaging 16 samples per cell takes the
 * per-pixel sensor noise (a few levels) well below `cellDelta`.
 */
import type { Frame } from '../core/types.js';

export const GRID = 64;
export const GRID_ROWS = 48;
const SAMPLES = 4;

export interface MotionGateOptions {
  /** Run the detector at least this often with nothing moving (ms). */
  idleIntervalMs: number;
  /** A cell counts as changed when its mean grey moved by more than this (0-255). */
  cellDelta?: number;
  /** Motion when at least this many of the GRID x GRID_ROWS cells changed. */
  minChangedCells?: number;
}

export type GateDecision = 'run' | 'skip';
export type GateReason = 'first' | 'tracks' | 'motion' | 'interval' | 'still';

/** A GRID x GRID_ROWS grey thumbnail (cell means, 0-255). */
export function thumbnail(frame: Frame, out: Float32Array = new Float32Array(GRID * GRID_ROWS)): Float32Array {
  const { width, height, channels, data } = frame;
  const cw = width / GRID;
  const ch = height / GRID_ROWS;
  // No more samples per cell than it has pixels: on a preview of GRID x GRID_ROWS each cell is one pixel, read once.
  const nx = Math.max(1, Math.min(SAMPLES, Math.floor(cw)));
  const ny = Math.max(1, Math.min(SAMPLES, Math.floor(ch)));
  for (let gy = 0; gy < GRID_ROWS; gy++) {
    for (let gx = 0; gx < GRID; gx++) {
      let sum = 0;
      for (let sy = 0; sy < ny; sy++) {
        const y = Math.min(height - 1, Math.floor((gy + (sy + 0.5) / ny) * ch));
        for (let sx = 0; sx < nx; sx++) {
          const x = Math.min(width - 1, Math.floor((gx + (sx + 0.5) / nx) * cw));
          const i = (y * width + x) * channels;
          // Green carries most of the luma; for a gray frame it is the one channel.
          sum += channels === 3 ? (data[i]! + 2 * data[i + 1]! + data[i + 2]!) / 4 : data[i]!;
        }
      }
      out[gy * GRID + gx] = sum / (nx * ny);
    }
  }
  return out;
}

/** Cells that moved by more than `delta` between two thumbnails. */
export function changedCells(a: Float32Array, b: Float32Array, delta: number): number {
  let n = 0;
  for (let i = 0; i < a.length; i++) if (Math.abs(a[i]! - b[i]!) > delta) n++;
  return n;
}

export class MotionGate {
  private reference: Float32Array | null = null;
  private scratch: Float32Array = new Float32Array(GRID * GRID_ROWS);
  private lastRunMono = Number.NEGATIVE_INFINITY;
  private readonly cellDelta: number;
  private readonly minChangedCells: number;
  /** Frames on which the detector was skipped, over the gate's life. */
  skipped = 0;

  constructor(private readonly o: MotionGateOptions) {
    this.cellDelta = o.cellDelta ?? 12;
    this.minChangedCells = o.minChangedCells ?? 4;
  }

  /** Whether to run the detector on `frame`; `tracksAlive`: the tracker still follows a face. */
  decide(frame: Frame, tracksAlive: boolean, nowMono: number): { decision: GateDecision; reason: GateReason } {
    const thumb = thumbnail(frame, this.scratch);
    let reason: GateReason;
    if (!this.reference || this.reference.length !== thumb.length) reason = 'first';
    else if (tracksAlive) reason = 'tracks';
    else if (changedCells(thumb, this.reference, this.cellDelta) >= this.minChangedCells) reason = 'motion';
    else if (nowMono - this.lastRunMono >= this.o.idleIntervalMs) reason = 'interval';
    else reason = 'still';
    if (reason === 'still') {
      this.skipped++;
      return { decision: 'skip', reason };
    }
    // The frame the detector sees becomes the reference: a lights change runs it once, then the new room is still.
    this.scratch = this.reference ?? new Float32Array(thumb.length);
    this.reference = thumb;
    this.lastRunMono = nowMono;
    return { decision: 'run', reason };
  }
}
