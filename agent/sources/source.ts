/**
 * Frame sources: where a camera's frames come from. A source is opened once per connection; its iteration yields
 * frames until it ends (a finite source such as a non-looping dir is done) or throws (it died; CameraFeed reconnects).
 */
import { systemClock } from '../core/clock.js';
import { FerError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import type { SourceConfig } from '../config/schema.js';
import type { FrameSource, SourceContext, SourceOptions } from './frame-source.js';
import { DirSource, FileSource } from './image-sources.js';
import { FfmpegSource } from './ffmpeg-source.js';
import { GstreamerSource } from './gstreamer-source.js';
import { HttpSnapshotSource } from './http-source.js';
import { RaspistillSource } from './raspistill-source.js';
import { RpicamSource } from './rpicam-source.js';

export { redactUrl } from '../core/redact.js';

export type { FrameSource, SourceContext, SourceFrame, SourceOptions } from './frame-source.js';

export function createSource(cameraId: string, cfg: SourceConfig, log: Logger, opts: SourceOptions = {}): FrameSource {
  const ctx: SourceContext = { cameraId, log: log.child({ camera: cameraId, source: cfg.type }), clock: opts.clock ?? systemClock, fps: opts.fps, maxWidth: opts.maxWidth };
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
