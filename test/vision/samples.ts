/** Test helpers for test/vision: sample images as Frames, the detection config, the box measured on the astronaut. */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import type { DetectionConfig } from '../../agent/config/schema.js';
import { assetsDir, sampleFramesDir } from '../../agent/core/paths.js';
import type { Box, Frame } from '../../agent/core/types.js';

export const samplesDir = path.join(assetsDir, 'samples');

export const detection: DetectionConfig = {
  detector: 'centerface',
  precision: 'auto',
  idle_gating: false,
  idle_interval_ms: 2000,
  max_frame_width: 0,
  follow_regions: false,
  full_interval_ms: 500,
  region_input: 128,
  roll_align: false,
  roll_align_min_deg: 10,
  input_width: 320,
  input_height: 256,
  min_face_px: 24,
  score_threshold: 0.5,
  faceapi_score_threshold: 0.5,
  nms_iou: 0.4,
  max_faces: 8,
};

/**
 * The astronaut's face in the 512x512 sample, measured by eye on a PNG with the box drawn: hairline to chin,
 * cheek to cheek.
 */
export const ASTRONAUT_FACE: Box = { x: 180, y: 56, width: 92, height: 122 };

/** Decodes an image file to an RGB (or, with gray, single-channel) Frame. */
export async function loadFrame(file: string, opts: { gray?: boolean; seq?: number } = {}): Promise<Frame> {
  let img = sharp(file).removeAlpha();
  if (opts.gray) img = img.toColourspace('b-w');
  const { data, info } = await img.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 1 && info.channels !== 3) throw new Error(`${file}: ${info.channels} channels`);
  return {
    cameraId: 'test',
    seq: opts.seq ?? 0,
    monoMs: 0,
    wallMs: 0,
    width: info.width,
    height: info.height,
    channels: info.channels,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

export function sampleFrameFiles(): string[] {
  return readdirSync(sampleFramesDir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .map((f) => path.join(sampleFramesDir, f));
}

/** Which demo frames show a face (see agent/assets/samples/README.md): 1-12 astronaut, 13-20 none, 21-32 camera man. */
export function expectedFaces(index: number): number {
  return index < 12 || index >= 20 ? 1 : 0;
}
