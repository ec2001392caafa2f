/**
 * Face crops → model input, exactly as the bundle's manifest says: box grown by the margin (and squared), sampled
 * to the model's size, converted to gray when the model wants one channel, then (pixel*scale - mean)/std.
 * Pure and allocation-free per frame (the output buffer is reused), so it is cheap on the frame loop.
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

  /** Returns a view of n × C × H × W floats for the given boxes (valid until the next call). */
  run(frame: Frame, boxes: readonly Box[]): Float32Array {
    const { width: ow, height: oh, channels: oc } = this.spec.input;
    const per = ow * oh * oc;
    const need = per * boxes.length;
    if (this.buf.length < need) this.buf = new Float32Array(need);
    boxes.forEach((b, i) => this.cropInto(frame, cropRegion(b, this.spec.faceCrop.margin, this.spec.faceCrop.square), i * per));
    return this.buf.subarray(0, need);
  }

  private cropInto(frame: Frame, r: Box, offset: number): void {
    const { width: ow, height: oh, channels: oc } = this.spec.input;
    const { scale, mean, std } = this.spec.preprocessing;
    const { data, width: fw, height: fh, channels: fc } = frame;
    const sx = r.width / ow;
    const sy = r.height / oh;
    // Downscaling a large face by point sampling aliases; average k×k bilinear taps per output pixel instead.
    const kx = Math.max(1, Math.min(4, Math.ceil(sx)));
    const ky = Math.max(1, Math.min(4, Math.ceil(sy)));
    const taps = kx * ky;
    const plane = ow * oh;
    const px = new Float64Array(3);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        px[0] = px[1] = px[2] = 0;
        for (let ty = 0; ty < ky; ty++) {
          const fy = r.y + (y + (ty + 0.5) / ky) * sy - 0.5;
          for (let tx = 0; tx < kx; tx++) {
            const fx = r.x + (x + (tx + 0.5) / kx) * sx - 0.5;
            bilinear(data, fw, fh, fc, fx, fy, px);
          }
        }
        const o = y * ow + x;
        if (oc === 1) {
          // ITU-R 601 luma, as PIL's convert('L') that made the training crops.
          const g = fc === 1 ? px[0]! / taps : (0.299 * px[0]! + 0.587 * px[1]! + 0.114 * px[2]!) / taps;
          this.buf[offset + o] = (g * scale - mean[0]!) / std[0]!;
        } else {
          for (let c = 0; c < 3; c++) {
            const v = (fc === 1 ? px[0]! : px[c]!) / taps;
            this.buf[offset + c * plane + o] = (v * scale - mean[c]!) / std[c]!;
          }
        }
      }
    }
  }
}

/** Adds the bilinear sample at (fx, fy), edge-clamped, to acc[0..channels). */
function bilinear(data: Uint8Array, w: number, h: number, ch: number, fx: number, fy: number, acc: Float64Array): void {
  const cx = Math.min(Math.max(fx, 0), w - 1);
  const cy = Math.min(Math.max(fy, 0), h - 1);
  const x0 = Math.floor(cx);
  const y0 = Math.floor(cy);
  const x1 = Math.min(x0 + 1, w - 1);
  const y1 = Math.min(y0 + 1, h - 1);
  const ax = cx - x0;
  const ay = cy - y0;
  const r0 = y0 * w;
  const r1 = y1 * w;
  for (let c = 0; c < ch; c++) {
    const a = data[(r0 + x0) * ch + c]!;
    const b = data[(r0 + x1) * ch + c]!;
    const d = data[(r1 + x0) * ch + c]!;
    const e = data[(r1 + x1) * ch + c]!;
    acc[c] = acc[c]! + (a + (b - a) * ax) * (1 - ay) + (d + (e - d) * ax) * ay;
  }
}
