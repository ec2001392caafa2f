/**
 * Face crops → model input, exactly as the bundle's manifest says: box grown by the margin (and squared), sampled
 * to the model's size (turned by the head's roll when one is given, so the eyes come out level), converted to gray
 * when the model wants one channel, then (pixel*scale - mean)/std.
 * Pure, and cheap on the frame loop: the output buffer is reused; per crop only small tap tables are allocated.
 */
import type { Box, Frame } from '../core/types.js';
import type { ModelSpec } from './classifier.js';

/** The crop region for a detector box: grown by `margin` of its side on each side, squared around its centre. */
export function cropRegion(box: Box, margin: number, square: boolean): Box {
  let w = box.width * (1 + 2 * margin);
  let h = box.height * (1 + 2 * margin);
  if (square) w = h = Math.max(w, h);
  const cx = box.x + box.width / 2;
  const cy = box.y + box.height / 2;
  return { x: cx - w / 2, y: cy - h / 2, width: w, height: h };
}

export class Preprocessor {
  private buf = new Float32Array(0);
  constructor(readonly spec: ModelSpec) {
    const { channels } = spec.input;
    const { mean, std } = spec.preprocessing;
    if (mean.length !== channels || std.length !== channels) throw new Error(`preprocessing mean/std need ${channels} values`);
  }

  /**
   * Returns a view of n × C × H × W floats for the given boxes (valid until the next call). `rolls[i]` (radians,
   * vision/face-roll.ts) turns box i's crop about its centre by that angle: 0 or absent is the plain crop.
   */
  run(frame: Frame, boxes: readonly Box[], rolls?: readonly number[]): Float32Array {
    const { width: ow, height: oh, channels: oc } = this.spec.input;
    const per = ow * oh * oc;
    const need = per * boxes.length;
    if (this.buf.length < need) this.buf = new Float32Array(need);
    boxes.forEach((b, i) => {
      const r = cropRegion(b, this.spec.faceCrop.margin, this.spec.faceCrop.square);
      const roll = rolls?.[i] ?? 0;
      // A roll that is not a finite angle would sample NaN everywhere: cut that face upright instead.
      if (roll === 0 || !Number.isFinite(roll)) this.cropInto(frame, r, i * per);
      else this.cropTurnedInto(frame, r, roll, i * per);
    });
    return this.buf.subarray(0, need);
  }

  /** Writes one output pixel from its summed taps: gray (ITU-R 601 luma, as PIL's convert('L') that made the training crops) or RGB. */
  private store(px: Float64Array, taps: number, fc: number, offset: number, o: number): void {
    const { channels: oc, width: ow, height: oh } = this.spec.input;
    const { scale, mean, std } = this.spec.preprocessing;
    if (oc === 1) {
      const g = fc === 1 ? px[0]! / taps : (0.299 * px[0]! + 0.587 * px[1]! + 0.114 * px[2]!) / taps;
      this.buf[offset + o] = (g * scale - mean[0]!) / std[0]!;
    } else {
      const plane = ow * oh;
      for (let c = 0; c < 3; c++) {
        const v = (fc === 1 ? px[0]! : px[c]!) / taps;
        this.buf[offset + c * plane + o] = (v * scale - mean[c]!) / std[c]!;
      }
    }
  }

  /**
   * The crop of region `r` turned by `roll` about its centre: output x runs along (cos, sin) in the frame, so a face
   * whose eye line rises or falls by `roll` comes out level. The same k×k bilinear taps per output pixel as the
   * axis-aligned path (which it equals at roll 0), placed along the turned axes; edges clamp.
   */
  private cropTurnedInto(frame: Frame, r: Box, roll: number, offset: number): void {
    const { width: ow, height: oh } = this.spec.input;
    const { data, width: fw, height: fh, channels: fc } = frame;
    const { sx, sy, kx, ky, taps } = tapGrid(r, ow, oh);
    const cos = Math.cos(roll);
    const sin = Math.sin(roll);
    const cx = r.x + r.width / 2 - 0.5;
    const cy = r.y + r.height / 2 - 0.5;
    // Each tap column's offset along the turned x axis, computed once per crop (u·cos, u·sin).
    const ucos = new Float64Array(ow * kx);
    const usin = new Float64Array(ow * kx);
    for (let i = 0; i < ow * kx; i++) {
      const u = (Math.floor(i / kx) + ((i % kx) + 0.5) / kx) * sx - r.width / 2;
      ucos[i] = u * cos;
      usin[i] = u * sin;
    }
    const px = new Float64Array(3);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        px[0] = px[1] = px[2] = 0;
        for (let ty = 0; ty < ky; ty++) {
          const v = (y + (ty + 0.5) / ky) * sy - r.height / 2;
          const rowX = cx - v * sin;
          const rowY = cy + v * cos;
          for (let tx = 0; tx < kx; tx++) {
            const i = x * kx + tx;
            const fx = Math.min(Math.max(rowX + ucos[i]!, 0), fw - 1);
            const fy = Math.min(Math.max(rowY + usin[i]!, 0), fh - 1);
            const x0 = Math.floor(fx);
            const y0 = Math.floor(fy);
            const x1 = Math.min(x0 + 1, fw - 1);
            const y1 = Math.min(y0 + 1, fh - 1);
            const ax = fx - x0;
            const ay = fy - y0;
            addTap(px, data, fc, y0 * fw, y1 * fw, x0, x1, ax, ay);
          }
        }
        this.store(px, taps, fc, offset, y * ow + x);
      }
    }
  }

  private cropInto(frame: Frame, r: Box, offset: number): void {
    const { width: ow, height: oh } = this.spec.input;
    const { data, width: fw, height: fh, channels: fc } = frame;
    const { sx, sy, kx, ky, taps } = tapGrid(r, ow, oh);
    // The taps' positions depend on one axis each: computed once per crop, not per sample (same values, same sums).
    const xt = axisTaps(ow, kx, r.x, sx, fw);
    const yt = axisTaps(oh, ky, r.y, sy, fh);
    const px = new Float64Array(3);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        px[0] = px[1] = px[2] = 0;
        for (let ty = 0; ty < ky; ty++) {
          const j = y * ky + ty;
          const r0 = yt.i0[j]! * fw;
          const r1 = yt.i1[j]! * fw;
          const ay = yt.a[j]!;
          for (let tx = 0; tx < kx; tx++) {
            const i = x * kx + tx;
            const x0 = xt.i0[i]!;
            const x1 = xt.i1[i]!;
            const ax = xt.a[i]!;
            addTap(px, data, fc, r0, r1, x0, x1, ax, ay);
          }
        }
        this.store(px, taps, fc, offset, y * ow + x);
      }
    }
  }
}

/**
 * Source pixels per output pixel (sx, sy) and the k×k taps averaged for each: downscaling a large face by point
 * sampling aliases, so up to 4×4 bilinear taps per output pixel are averaged instead.
 */
function tapGrid(r: Box, ow: number, oh: number): { sx: number; sy: number; kx: number; ky: number; taps: number } {
  const sx = r.width / ow;
  const sy = r.height / oh;
  const kx = Math.max(1, Math.min(4, Math.ceil(sx)));
  const ky = Math.max(1, Math.min(4, Math.ceil(sy)));
  return { sx, sy, kx, ky, taps: kx * ky };
}

/** Adds one bilinear tap (rows r0/r1 as pixel offsets, columns x0/x1, weights ax/ay) to each channel's sum in px. */
function addTap(px: Float64Array, data: Uint8Array, fc: number, r0: number, r1: number, x0: number, x1: number, ax: number, ay: number): void {
  const p00 = (r0 + x0) * fc;
  const p01 = (r0 + x1) * fc;
  const p10 = (r1 + x0) * fc;
  const p11 = (r1 + x1) * fc;
  for (let c = 0; c < fc; c++) {
    const a = data[p00 + c]!;
    const b = data[p01 + c]!;
    const d = data[p10 + c]!;
    const e = data[p11 + c]!;
    px[c] = px[c]! + (a + (b - a) * ax) * (1 - ay) + (d + (e - d) * ax) * ay;
  }
}

/** Bilinear taps along one axis: for output o and tap t, the two source indices (edge-clamped) and the weight. */
function axisTaps(out: number, k: number, origin: number, step: number, size: number): { i0: Int32Array; i1: Int32Array; a: Float64Array } {
  const i0 = new Int32Array(out * k);
  const i1 = new Int32Array(out * k);
  const a = new Float64Array(out * k);
  for (let o = 0; o < out; o++) {
    for (let t = 0; t < k; t++) {
      const f = origin + (o + (t + 0.5) / k) * step - 0.5;
      const c = Math.min(Math.max(f, 0), size - 1);
      const lo = Math.floor(c);
      i0[o * k + t] = lo;
      i1[o * k + t] = Math.min(lo + 1, size - 1);
      a[o * k + t] = c - lo;
    }
  }
  return { i0, i1, a };
}
