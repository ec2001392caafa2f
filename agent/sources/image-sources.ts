/**
 * Still images as a camera: `file` (one image, re-read each time so another program may keep replacing it) and
 * `dir` (every image in a folder in name order). Both pace themselves at the camera rate and, unless `loop` is set,
 * end after one pass. Only regular files up to 16 MB are read (read-image-file.ts); anything else in the folder
 * (a FIFO, a device, a huge or sparse file) is refused, logged and counted in `discarded`, and the camera goes on.
 */
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { FerError, errorMessage } from '../core/errors.js';
import type { SourceConfig } from '../config/schema.js';
import { readImageFile } from './read-image-file.js';
import { sleep } from './sleep.js';
import type { FrameSource, SourceContext, SourceFrame } from './frame-source.js';

export const IMAGE_EXTENSIONS = ['.jpg', '.jpeg', '.png', '.webp', '.gif', '.tif', '.tiff', '.avif'];
const DEFAULT_INTERVAL_MS = 200;

/** Name order with digits compared as numbers, so frame2 comes before frame10. */
export function sortImageNames(names: string[]): string[] {
  return names
    .filter((n) => IMAGE_EXTENSIONS.includes(path.extname(n).toLowerCase()) && !n.startsWith('.'))
    .sort((a, b) => a.localeCompare(b, 'en', { numeric: true }) || (a < b ? -1 : a > b ? 1 : 0));
}

function paceMs(cfg: SourceConfig, ctx: SourceContext): number {
  if (cfg.interval_ms !== undefined) return Math.max(0, cfg.interval_ms);
  return ctx.fps ? 1000 / ctx.fps : DEFAULT_INTERVAL_MS;
}

function requirePath(cfg: SourceConfig, ctx: SourceContext): string {
  if (!cfg.path) throw new FerError('config_invalid', `camera ${ctx.cameraId}: ${cfg.type} source needs source.path`);
  return cfg.path;
}

abstract class ImageSource implements FrameSource {
  abstract readonly description: string;
  readonly pull = true;
  protected readonly root: string;
  /** Files refused (not a regular file, over the size cap), over the source's life. */
  discarded = 0;

  constructor(
    protected readonly cfg: SourceConfig,
    protected readonly ctx: SourceContext,
  ) {
    this.root = requirePath(cfg, ctx);
  }

  /** The files of one pass, in order. */
  protected abstract pass(): Promise<string[]>;

  async *open(signal: AbortSignal, demand?: () => Promise<void>): AsyncGenerator<SourceFrame> {
    // Read on demand, the consumer's fps paces; an explicit source.interval_ms (a slideshow slower than fps) still holds.
    const interval = demand && this.cfg.interval_ms === undefined ? 0 : paceMs(this.cfg, this.ctx);
    const { clock, log } = this.ctx;
    let seq = 0;
    let next = Number.NEGATIVE_INFINITY;
    do {
      const files = await this.pass();
      let yielded = 0;
      for (const file of files) {
        if (signal.aborted) return;
        if (demand) await demand();
        if (signal.aborted) return;
        let bytes: Uint8Array;
        try {
          bytes = await readImageFile(file);
        } catch (err) {
          if (err instanceof FerError && err.reason === 'frame_corrupt') {
            this.discarded++;
            log.warn({ file, err: err.message }, 'image refused');
            // A single file that is refused is the camera failing (the feed retries with backoff and reports it).
            if (files.length === 1) throw new FerError('source_failed', err.message);
            continue;
          }
          // A file removed between listing and reading is skipped; an unreadable single file is a failure.
          if (files.length === 1) throw new FerError('source_failed', `${file} cannot be read: ${errorMessage(err)}`);
          log.debug({ file, err: errorMessage(err) }, 'image skipped');
          continue;
        }
        const wait = next - clock.mono();
        if (wait > 0) await sleep(wait, signal);
        if (signal.aborted) return;
        const monoMs = clock.mono();
        // Pace from the schedule, not from "now", so slow reads do not lower the rate (but never burst to catch up).
        next = Math.max(next, monoMs) + interval;
        yielded++;
        yield { kind: 'encoded', frame: { seq: seq++, monoMs, wallMs: clock.wall(), bytes } };
      }
      if (yielded === 0) throw new FerError('source_failed', `${this.description}: no readable image`);
    } while (this.cfg.loop && !signal.aborted);
  }
}

export class FileSource extends ImageSource {
  readonly description: string;

  constructor(cfg: SourceConfig, ctx: SourceContext) {
    super(cfg, ctx);
    this.description = `file ${this.root}`;
  }

  protected pass(): Promise<string[]> {
    return Promise.resolve([this.root]);
  }
}

export class DirSource extends ImageSource {
  readonly description: string;

  constructor(cfg: SourceConfig, ctx: SourceContext) {
    super(cfg, ctx);
    this.description = `dir ${this.root}`;
  }

  /** Listed again on every pass so images added or removed while looping are picked up. */
  protected async pass(): Promise<string[]> {
    let names: string[];
    try {
      names = await readdir(this.root);
    } catch (err) {
      throw new FerError('source_failed', `dir ${this.root} cannot be listed: ${errorMessage(err)}`);
    }
    const images = sortImageNames(names);
    if (images.length === 0) throw new FerError('source_failed', `dir ${this.root} has no images (${IMAGE_EXTENSIONS.join(', ')})`);
    return images.map((n) => path.join(this.root, n));
  }
}
