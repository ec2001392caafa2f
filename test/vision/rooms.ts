/** Generated rooms for the idle-gating tests (640x480 grey scenes with a person, a light change, sensor noise). */
import type { Frame } from '../../agent/core/types.js';

const W = 640;
const H = 480;

function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** A room: gradient walls, a dark sofa, a bright window; optional person (a 50x130 figure), light change, noise. */
export function room(opts: { seed: number; noise?: number; person?: { x: number; y: number; w?: number; h?: number }; light?: number }): Frame {
  const r = rng(opts.seed);
  const data = new Uint8Array(W * H * 3);
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      let v = 90 + (60 * x) / W - (30 * y) / H;
      if (y > 300 && x > 100 && x < 400) v = 50; // sofa
      if (y > 60 && y < 200 && x > 450 && x < 600) v = 200; // window
      const p = opts.person;
      if (p && x >= p.x && x < p.x + (p.w ?? 50) && y >= p.y && y < p.y + (p.h ?? 130)) v = x < p.x + (p.w ?? 50) / 2 ? 160 : 140;
      v += opts.light ?? 0;
      v += ((r() + r() + r() - 1.5) * 2 * (opts.noise ?? 0));
      const c = Math.max(0, Math.min(255, Math.round(v)));
      data.set([c, c, c], (y * W + x) * 3);
    }
  }
  return { cameraId: 'c', seq: 0, monoMs: 0, wallMs: 0, width: W, height: H, channels: 3, data };
}

