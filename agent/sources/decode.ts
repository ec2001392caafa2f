/**
 * Encoded frame (JPEG/PNG/...) → RGB Frame, with an optional downscale. Anything that is not a whole, sane image
 * throws FerError('frame_corrupt') saying what is wrong, so the feed can skip it and go on.
 */
import sharp, { type Sharp } from 'sharp';
import { FerError, errorMessage } from '../core/errors.js';
import type { EncodedFrame, Frame } from '../core/types.js';

/** Larger images (by their header) are refused before decoding: a corrupt or hostile header must not eat memory. */
export const MAX_FRAME_PIXELS = 40_000_000;

function hexPrefix(bytes: Uint8Array): string {
  return Array.from(bytes.subarray(0, 4), (x) => x.toString(16).padStart(2, '0')).join(' ');
}

export async function decodeFrame(cameraId: string, enc: EncodedFrame, maxWidth?: number): Promise<Frame> {
  return decode(cameraId, enc, (img) => (maxWidth !== undefined && maxWidth > 0 ? img.resize({ width: Math.round(maxWidth), withoutEnlargement: true }) : img));
}

/**
 * A small decode of the frame, exactly `width` x `height` (stretched: the motion gate compares cells, not shapes).
 * A JPEG is decoded at 1/2-1/8 scale inside libjpeg (sharp's shrink-on-load), which skips most of the inverse DCT
 * and never builds the full-size pixels; the entropy decoding is still whole, so a truncated or corrupt frame fails
 * here just as it would in full.
 */
export async function decodePreview(cameraId: string, enc: EncodedFrame, width: number, height: number): Promise<Frame> {
  return decode(cameraId, enc, (img) => img.resize(width, height, { fit: 'fill', fastShrinkOnLoad: true }));
}

async function decode(cameraId: string, enc: EncodedFrame, shape: (img: Sharp) => Sharp): Promise<Frame> {
  const what = `camera ${cameraId} frame ${enc.seq}`;
  if (enc.bytes.length === 0) throw new FerError('frame_corrupt', `${what} is empty (0 bytes)`);
  const input = Buffer.from(enc.bytes.buffer, enc.bytes.byteOffset, enc.bytes.byteLength);
  const img = shape(sharp(input, { failOn: 'truncated', limitInputPixels: MAX_FRAME_PIXELS, sequentialRead: true }).removeAlpha().toColourspace('srgb'));
  try {
    const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new FerError('frame_corrupt', `${what} decoded to ${info.channels} channels, expected 3`);
    return {
      cameraId,
      seq: enc.seq,
      monoMs: enc.monoMs,
      wallMs: enc.wallMs,
      width: info.width,
      height: info.height,
      channels: 3,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (err) {
    if (err instanceof FerError) throw err;
    throw new FerError('frame_corrupt', await describeFailure(what, input, err), { cause: err });
  }
}

/** A JPEG (starts with SOI) whose last bytes are not EOI, allowing for zero padding some cameras add. */
function jpegWithoutEnd(b: Uint8Array): boolean {
  if (b.length < 2 || b[0] !== 0xff || b[1] !== 0xd8) return false;
  let end = b.length;
  while (end > 2 && b[end - 1] === 0x00) end--;
  return !(b[end - 2] === 0xff && b[end - 1] === 0xd9);
}

/**
 * Says why sharp refused the bytes, from the bytes themselves where possible: libvips keeps one error buffer per
 * process, so under concurrent decodes its message can be another image's or just "Unknown error".
 */
async function describeFailure(what: string, input: Buffer, err: unknown): Promise<string> {
  const msg = errorMessage(err).split('\n')[0];
  try {
    const meta = await sharp(input, { limitInputPixels: false }).metadata();
    const w = meta.width ?? 0;
    const h = meta.height ?? 0;
    if (w * h > MAX_FRAME_PIXELS) return `${what} is ${w}x${h} (${((w * h) / 1e6).toFixed(1)} MP), over the ${MAX_FRAME_PIXELS / 1e6} MP limit`;
    if (w === 0 || h === 0) return `${what} has a zero size (${w}x${h})`;
  } catch {
    // Not even a readable header: described below.
  }
  if (jpegWithoutEnd(input) || /premature end|truncated/i.test(msg)) return `${what} is truncated (${input.length} bytes, no complete image): ${msg}`;
  return `${what} is not a decodable image (${input.length} bytes, starts ${hexPrefix(input)}): ${msg}`;
}

/** Downscales a raw RGB frame to maxWidth (raw sources deliver a fixed size; this keeps one code path for callers). */
export async function downscaleRaw(frame: Frame, maxWidth: number): Promise<Frame> {
  if (frame.width <= maxWidth) return frame;
  const input = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
  const { data, info } = await sharp(input, { raw: { width: frame.width, height: frame.height, channels: frame.channels } })
    .resize({ width: Math.round(maxWidth) })
    .raw()
    .toBuffer({ resolveWithObject: true });
  return { ...frame, width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength) };
}
