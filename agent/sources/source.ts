/**
 * Frame sources: where a camera's frames come from. A source is opened once per connection; its iteration yields
 * frames until it ends (a finite source such as a non-looping dir is done) or throws (it died; CameraFeed reconnects).
 */
import type { Clock } from '../core/clock.js';
import { systemClock } from '../core/clock.js';
import { FerError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { EncodedFrame, Frame } from '../core/types.js';
import type { SourceConfig } from '../config/schema.js';
import { DirSource, FileSource } from './image-sources.js';
import { FfmpegSource } from './ffmpeg-source.js';
import { GstreamerSource } from './gstreamer-source.js';
import { HttpSnapshotSource } from './http-source.js';
import { RaspistillSource } from './raspistill-source.js';
import { RpicamSource } from './rpicam-source.js';

export { redactUrl } from './redact.js';

export type SourceFrame = { kind: 'encoded'; frame: EncodedFrame } | { kind: 'raw'; frame: Frame };

export interface FrameSource {
  /** For logs and `doctor`: the type and what it reads, never credentials. */
  readonly description: string;
  open(signal: AbortSignal): AsyncIterable<SourceFrame>;
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
}

/** Everything a source implementation gets. */
export interface SourceContext {
  cameraId: string;
  log: Logger;
  clock: Clock;
  fps?: number;
}

export function createSource(cameraId: string, cfg: SourceConfig, log: Logger, opts: SourceOptions = {}): FrameSource {
  const ctx: SourceContext = { cameraId, log: log.child({ camera: cameraId, source: cfg.type }), clock: opts.clock ?? systemClock, fps: opts.fps };
  switch (cfg.type) {
    case 'file':
      return new FileSource(cfg, ctx);
    case 'dir':
      return new DirSource(cfg, ctx);
    case 'ffmpeg':
      return new FfmpegSource(cfg, ctx);
    case 'rpicam':
      return new RpicamSource(cfg, ctx);
    case 'raspistill':
      return new RaspistillSource(cfg, ctx);
    case 'gstreamer':
      return new GstreamerSource(cfg, ctx);
    case 'http-snapshot':
      return new HttpSnapshotSource(cfg, ctx);
    default: {
      const t: never = cfg.type;
      throw new FerError('config_invalid', `camera ${cameraId}: unknown source type ${JSON.stringify(t)}`);
    }
  }
}
