/** Raspberry Pi camera via rpicam-vid (libcamera-vid on Bullseye) writing MJPEG to stdout. */
import type { SourceConfig } from '../config/schema.js';
import { ProcessSource, type ProcessSpec } from './process-source.js';
import type { SourceContext } from './frame-source.js';

export function rpicamArgs(cfg: SourceConfig, fps?: number): string[] {
  const args = ['-t', '0', '--codec', 'mjpeg', '--nopreview', '-o', '-'];
  if (cfg.width) args.push('--width', String(cfg.width));
  if (cfg.height) args.push('--height', String(cfg.height));
  if (fps) args.push('--framerate', String(fps));
  return [...args, ...(cfg.args ?? [])];
}

export class RpicamSource extends ProcessSource {
  readonly description: string;

  constructor(
    private readonly cfg: SourceConfig,
    ctx: SourceContext,
  ) {
    super(ctx);
    this.description = `rpicam-vid${cfg.width && cfg.height ? ` ${cfg.width}x${cfg.height}` : ''}`;
  }

  protected spec(): Promise<ProcessSpec> {
    return Promise.resolve({
      programs: ['rpicam-vid', 'libcamera-vid'],
      args: rpicamArgs(this.cfg, this.ctx.fps),
      installHint: 'install rpicam-apps (Raspberry Pi OS: sudo apt install rpicam-apps); on legacy Pi OS use the raspistill source, for USB cameras the ffmpeg source',
      output: { kind: 'mjpeg' },
      finite: false,
    });
  }
}
