/** What every frame source is and gets; implementations import this, the factory (source.ts) imports them. */
import type { Clock } from '../core/clock.js';
import type { Logger } from '../core/log.js';
import type { EncodedFrame, Frame } from '../core/types.js';

export type SourceFrame = { kind: 'encoded'; frame: EncodedFrame } | { kind: 'raw'; frame: Frame };

export interface FrameSource {
  /** For logs and `doctor`: the type and what it reads, never credentials. */
  readonly description: string;
  /**
   * `demand` (pull sources): resolves when the consumer wants the next frame. A pull source waits for it before
   * reading, so a stored image is read when it is needed and does not age in the feed's slot; the consumer then
   * paces. Without it, the source paces itself at the camera fps.
   */
  open(signal: AbortSignal, demand?: () => Promise<void>): AsyncIterable<SourceFrame>;
  /** Frames the source threw away before they became frames (broken framing, over the size cap), over its life. */
  readonly discarded?: number;
  /**
   * Stored images (file, dir): the feed takes the next frame only once the last one was handed out, so none is
   * dropped. Live sources leave this unset: they are drained at once and a slow consumer gets the newest frame.
   */
  readonly pull?: boolean;
}

export interface SourceOptions {
  clock?: Clock;
  /** The camera's frame rate: file/dir sources pace at it; ffmpeg drops frames above it before converting them. */
  fps?: number;
  /** Frames wider than this are wanted scaled down (ffmpeg scales before the pipe); the feed scales the rest. */
  maxWidth?: number;
}

/** Everything a source implementation gets. */
export interface SourceContext {
  cameraId: string;
  log: Logger;
  clock: Clock;
  fps?: number;
  maxWidth?: number;
}
