/**
 * The pipeline benchmark's 640x480 JPEG frame sets: 0 faces (the sky/buildings pan of the demo frames), 1 face
 * (the astronaut frames) and 3 faces, composed with sharp from the two bundled public-domain portraits on the
 * empty background, with a little jitter per frame so tracks move and states change as in a real stream.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { assetsDir, sampleFramesDir } from '../../agent/core/paths.js';

export type FaceCount = 0 | 1 | 3;
export const FACE_COUNTS: readonly FaceCount[] = [0, 1, 3];

/** Head regions around the faces CenterFace finds in the 512x512 samples (astronaut 180,56 93x122; camera man 200,116 56x79). */
const HEADS = {
  astronaut: { file: 'astronaut.jpg', left: 104, top: 0, width: 244, height: 244 },
  cameraman: { file: 'camera.jpg', left: 148, top: 76, width: 160, height: 160 },
} as const;

async function sampleFrames(from: number, to: number): Promise<Buffer[]> {
  const names = (await readdir(sampleFramesDir)).filter((n) => n.endsWith('.jpg')).sort();
  return Promise.all(names.slice(from - 1, to).map((n) => readFile(path.join(sampleFramesDir, n))));
}

async function head(which: keyof typeof HEADS, side: number, mirror: boolean): Promise<Buffer> {
  const h = HEADS[which];
  let img = sharp(path.join(assetsDir, 'samples', h.file)).extract({ left: h.left, top: h.top, width: h.width, height: h.height }).resize(side, side);
  if (mirror) img = img.flop();
  return img.png().toBuffer();
}

export interface HeadPlacement {
  which: keyof typeof HEADS;
  left: number;
  top: number;
  /** Side of the square head region (pixels); the face is about 60% of it. */
  side: number;
  mirror?: boolean;
}

/** A 640x480 JPEG: the heads placed on an empty background (the first no-face demo frame unless given). */
export async function scene(heads: readonly HeadPlacement[], background?: Buffer): Promise<Buffer> {
  const bg = background ?? (await sampleFrames(13, 13))[0]!;
  const composites = await Promise.all(heads.map(async (h) => ({ input: await head(h.which, h.side, h.mirror ?? false), left: Math.round(h.left), top: Math.round(h.top) })));
  return sharp(bg).resize(640, 480).composite(composites).jpeg({ quality: 85 }).toBuffer();
}

/** Three heads side by side on the empty background; `variant` shifts and scales them slightly. */
async function threeFaces(background: Buffer, variant: number): Promise<Buffer> {
  const jitter = (k: number): number => Math.round(8 * Math.sin(variant * 1.7 + k * 2.1));
  const side = 196 + 2 * jitter(3);
  const heads = await Promise.all([head('astronaut', side, false), head('cameraman', side, false), head('astronaut', side, true)]);
  const composites = heads.map((input, i) => ({ input, left: 12 + i * 212 + jitter(i), top: 130 + jitter(i + 5) }));
  return sharp(background).resize(640, 480).composite(composites).jpeg({ quality: 80 }).toBuffer();
}

/** JPEG bytes per face count. */
export async function benchFrames(variants = 8): Promise<Record<FaceCount, Buffer[]>> {
  const empty = await sampleFrames(13, 20);
  const one = await sampleFrames(1, 12);
  const three = await Promise.all(Array.from({ length: variants }, (_, v) => threeFaces(empty[v % empty.length]!, v)));
  return { 0: empty, 1: one, 3: three };
}
