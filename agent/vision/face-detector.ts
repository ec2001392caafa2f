/** The face-detector contract every detector implements, and the selection rules they share (pure). */
import type { DetectionConfig } from '../config/schema.js';
import type { Box, DetectedFace, Frame } from '../core/types.js';

export interface FaceDetector {
  /** Which detector runs: 'centerface', 'tiny', 'ssd'. */
  readonly name: string;
  /** The face score threshold it applies, on its own model's scale (CenterFace int8 maps the configured one). */
  readonly scoreThreshold?: number;
  /** Faces in frame pixels, largest first, at most `max_faces`. Calls may overlap; detectors serialise them. */
  detect(frame: Frame): Promise<DetectedFace[]>;
  /**
   * Searches only the given squares of the frame (follow regions, vision/region-plan.ts), all in one run: per region,
   * the faces above the score threshold in frame pixels (NMS within the region; size limits not applied yet).
   * Detectors without it always search the whole frame.
   */
  detectRegions?(frame: Frame, regions: readonly Box[]): Promise<DetectedFace[][]>;
  dispose(): Promise<void>;
}

/** Drops faces smaller than `min_face_px` (shorter side), then keeps the `max_faces` largest, largest first. */
export function selectFaces(faces: readonly DetectedFace[], cfg: Pick<DetectionConfig, 'min_face_px' | 'max_faces'>): DetectedFace[] {
  return faces
    .filter((f) => Math.min(f.box.width, f.box.height) >= cfg.min_face_px)
    .sort((a, b) => b.box.width * b.box.height - a.box.width * a.box.height || b.score - a.score)
    .slice(0, cfg.max_faces);
}

/** Checks that a frame's buffer matches its declared size, so a detector never reads past it. */
export function frameProblem(frame: Frame): string | undefined {
  const { width, height, channels, data } = frame;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) return `frame size ${width}x${height} is invalid`;
  if (channels !== 1 && channels !== 3) return `frame has ${String(channels)} channels, expected 1 or 3`;
  if (data.length !== width * height * channels) return `frame data has ${data.length} bytes, expected ${width}x${height}x${channels} = ${width * height * channels}`;
  return undefined;
}
