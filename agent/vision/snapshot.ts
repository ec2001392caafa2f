/**
 * The picture for a notification (opt-in, `snapshot.enabled`): the face that changed with a margin, or the whole
 * frame with every face boxed; JPEG, scaled to `max_width`, and re-encoded smaller until it fits `max_bytes` (or
 * dropped). In memory only: nothing is written to disk.
 */
import sharp from 'sharp';
import type { SnapshotConfig } from '../config/schema.js';
import type { Box, Frame } from '../core/types.js';

/** Context around a face: half its size on every side, so the expression reads in a phone notification. */
const FACE_MARGIN = 0.5;
const ATTEMPTS = 4;

function region(frame: Frame, box: Box): { left: number; top: number; width: number; height: number } {
  const mx = box.width * FACE_MARGIN;
  const my = box.height * FACE_MARGIN;
  const left = Math.max(0, Math.floor(box.x - mx));
  const top = Math.max(0, Math.floor(box.y - my));
  const right = Math.min(frame.width, Math.ceil(box.x + box.width + mx));
  const bottom = Math.min(frame.height, Math.ceil(box.y + box.height + my));
  return { left, top, width: Math.max(1, right - left), height: Math.max(1, bottom - top) };
}

function boxesSvg(width: number, height: number, boxes: readonly Box[]): Buffer {
  const stroke = Math.max(2, Math.round(Math.min(width, height) / 160));
  const rects = boxes
    .map((b) => `<rect x="${b.x.toFixed(1)}" y="${b.y.toFixed(1)}" width="${b.width.toFixed(1)}" height="${b.height.toFixed(1)}" fill="none" stroke="#ffcc00" stroke-width="${stroke}"/>`)
    .join('');
  return Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${rects}</svg>`);
}

/**
 * The JPEG for an event on `face` (kind face), or of the frame with `boxes` drawn (kind frame); null when even the
 * smallest attempt is over max_bytes.
 */
export async function encodeSnapshot(frame: Frame, face: Box, boxes: readonly Box[], cfg: SnapshotConfig): Promise<Buffer | null> {
  const raw = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
  const img = sharp(raw, { raw: { width: frame.width, height: frame.height, channels: frame.channels } });
  // The crop or the boxes first, rendered losslessly once; then each attempt only scales and encodes.
  const staged = await (cfg.kind === 'face'
    ? img.extract(region(frame, face))
    : img.composite([{ input: boxesSvg(frame.width, frame.height, boxes), top: 0, left: 0 }])
  )
    .png({ compressionLevel: 0 })
    .toBuffer();
  let width = cfg.max_width;
  let quality = cfg.quality;
  for (let i = 0; i < ATTEMPTS; i++) {
    const jpeg = await sharp(staged)
      .resize({ width, fit: 'inside', withoutEnlargement: true })
      .jpeg({ quality, mozjpeg: false })
      .toBuffer();
    if (jpeg.length <= cfg.max_bytes) return jpeg;
    width = Math.max(64, Math.round(width * 0.7));
    quality = Math.max(30, Math.round(quality * 0.7));
  }
  return null;
}
