/**
 * Legacy Raspberry Pi OS camera stack (before libcamera) via node-raspistill: raspistill in timelapse mode writing
 * JPEGs to stdout. node-raspistill cuts stdout at chunk starts that look like an image, which can glue or split
 * frames, so its buffers are re-cut here by the MJPEG splitter.
 */
import { FerError, errorMessage } from '../core/errors.js';
import type { SourceConfig } from '../config/schema.js';
import { MjpegSplitter } from './mjpeg-splitter.js';
import { resolveProgram } from './process-source.js';
import { PushQueue } from './push-queue.js';
import type { FrameSource, SourceContext, SourceFrame } from './frame-source.js';

export class RaspistillSource implements FrameSource {
  readonly description: string;
  private discardedClosed = 0;
  private splitter: MjpegSplitter | undefined;

  constructor(
    private readonly cfg: SourceConfig,
    private readonly ctx: SourceContext,
  ) {
    this.description = `raspistill${cfg.width && cfg.height ? ` ${cfg.width}x${cfg.height}` : ''}`;
  }

  get discarded(): number {
    return this.discardedClosed + (this.splitter?.discarded ?? 0);
  }

  private intervalMs(): number {
    return Math.max(100, Math.round(this.cfg.interval_ms ?? (this.ctx.fps ? 1000 / this.ctx.fps : 1000)));
  }

  async *open(signal: AbortSignal): AsyncGenerator<SourceFrame> {
    resolveProgram(['raspistill'], 'it ships with legacy Raspberry Pi OS (Buster/Bullseye legacy camera stack); on current Pi OS use the rpicam source');
    const { Raspistill } = await import('node-raspistill');
    const camera = new Raspistill({ noFileSave: true, encoding: 'jpg', width: this.cfg.width, height: this.cfg.height });
    const splitter = new MjpegSplitter();
    this.splitter = splitter;
    const queue = new PushQueue<Uint8Array>(2);
    const { clock } = this.ctx;
    const onAbort = (): void => camera.stop();
    signal.addEventListener('abort', onAbort, { once: true });
    // Time 0: run until stopped.
    camera
      .timelapse(this.intervalMs(), 0, (image: Buffer) => {
        for (const f of splitter.push(image)) queue.push(f);
      })
      .then(
        () => queue.end(signal.aborted ? undefined : new FerError('source_failed', 'raspistill exited')),
        (err: unknown) => queue.end(signal.aborted ? undefined : new FerError('source_failed', `raspistill failed: ${errorMessage(err)}`)),
      );
    let seq = 0;
    try {
      for await (const bytes of queue) {
        yield { kind: 'encoded', frame: { seq: seq++, monoMs: clock.mono(), wallMs: clock.wall(), bytes } };
        if (signal.aborted) return;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      camera.stop();
      this.discardedClosed += splitter.discarded;
      this.splitter = undefined;
    }
  }
}
