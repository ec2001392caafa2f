/**
 * ffmpeg on a file, a URL (RTSP, HTTP MJPEG, ...) or a V4L2 device (/dev/videoN).
 *
 * Output is rawvideo rgb24 at a fixed size when the size is known (configured, or probed with ffprobe), MJPEG
 * otherwise. Measured with test/sources/ffmpeg-output.bench.ts (ffmpeg + node CPU per frame, decode included,
 * x86, one ffmpeg thread): 640x480 raw 1.7 ms vs MJPEG 4.4 ms; 1280x720 raw 4.5 ms vs 9.2 ms; with a 5 fps filter
 * on 30 fps input, raw 4.7 vs 7.4 ms (640x480). Raw skips a JPEG encode in ffmpeg and a decode in node, which costs
 * more than moving the bigger frames through the pipe.
 */
import { spawn } from 'node:child_process';
import { FerError, errorMessage } from '../core/errors.js';
import type { SourceConfig } from '../config/schema.js';
import { MAX_FRAME_PIXELS } from './decode.js';
import { findExecutable } from './find-executable.js';
import { ProcessSource, type ProcessOutput, type ProcessSpec } from './process-source.js';
import { redactUrl } from '../core/redact.js';
import type { SourceContext } from './frame-source.js';

export type InputKind = 'device' | 'url' | 'file';

export function inputKind(input: string): InputKind {
  if (input.startsWith('/dev/video')) return 'device';
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(input)) return 'url';
  return 'file';
}

export interface FfmpegPlan {
  input: string;
  /** Caps the output rate (frames above it are dropped by ffmpeg before conversion). */
  fps?: number;
  loop?: boolean;
  /** Extra input options (before -i). */
  args?: string[];
  /** Capture size asked of a V4L2 device. */
  deviceSize?: { width: number; height: number };
  output: ProcessOutput;
}

/** The ffmpeg command line for a plan (pure, so tests can check it without running ffmpeg). */
export function ffmpegArgs(plan: FfmpegPlan): string[] {
  const kind = inputKind(plan.input);
  const args = ['-hide_banner', '-loglevel', 'error', '-nostdin'];
  if (kind === 'device') {
    args.push('-f', 'v4l2');
    if (plan.deviceSize) args.push('-video_size', `${plan.deviceSize.width}x${plan.deviceSize.height}`);
  } else if (kind === 'file') {
    // A file plays at its own rate, like a camera would deliver it.
    if (plan.loop) args.push('-stream_loop', '-1');
    args.push('-re');
  }
  args.push(...(plan.args ?? []), '-i', plan.input, '-an', '-sn', '-dn');
  const filters: string[] = [];
  if (plan.fps) filters.push(`fps=${plan.fps}`);
  // Raw frames have a fixed size, so a stream that changes size mid-way still fits it.
  if (plan.output.kind === 'raw') filters.push(`scale=${plan.output.width}:${plan.output.height}`);
  if (filters.length) args.push('-vf', filters.join(','));
  if (plan.output.kind === 'raw') args.push('-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1');
  else args.push('-f', 'mjpeg', '-q:v', '3', 'pipe:1');
  return args;
}

const even = (n: number): number => Math.max(2, Math.round(n / 2) * 2);

/** Fills a missing width or height from the native size, keeping its aspect ratio. */
export function outputSize(cfg: { width?: number; height?: number }, native?: { width: number; height: number }, maxWidth?: number): { width: number; height: number } | undefined {
  if (cfg.width && cfg.height) return { width: even(cfg.width), height: even(cfg.height) };
  if (!native) return undefined;
  if (cfg.width) return { width: even(cfg.width), height: even((cfg.width * native.height) / native.width) };
  if (cfg.height) return { width: even((cfg.height * native.width) / native.height), height: even(cfg.height) };
  // No size configured: the camera's own, scaled down to maxWidth (ffmpeg scales faster than anything after the pipe).
  if (maxWidth && native.width > maxWidth) return { width: even(maxWidth), height: even((maxWidth * native.height) / native.width) };
  return { width: even(native.width), height: even(native.height) };
}

const PROBE_TIMEOUT_MS = 10_000;

/** The first video stream's size according to ffprobe, or undefined when it cannot tell. */
export async function probeSize(input: string, inputArgs: string[], signal: AbortSignal): Promise<{ width: number; height: number } | undefined> {
  const ffprobe = findExecutable('ffprobe');
  if (!ffprobe) return undefined;
  const args = ['-v', 'error', ...inputArgs, '-select_streams', 'v:0', '-show_entries', 'stream=width,height', '-of', 'csv=p=0', input];
  return new Promise((resolve) => {
    const child = spawn(ffprobe, args, { stdio: ['ignore', 'pipe', 'ignore'], signal, timeout: PROBE_TIMEOUT_MS, killSignal: 'SIGKILL' });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', () => resolve(undefined));
    child.on('close', (code) => {
      const m = /^(\d+),(\d+)/m.exec(out);
      resolve(code === 0 && m ? { width: Number(m[1]), height: Number(m[2]) } : undefined);
    });
  });
}

export class FfmpegSource extends ProcessSource {
  readonly description: string;
  private readonly input: string;
  private native: { width: number; height: number } | undefined;

  constructor(
    private readonly cfg: SourceConfig,
    ctx: SourceContext,
  ) {
    super(ctx);
    const input = cfg.path || cfg.url;
    if (!input) throw new FerError('config_invalid', `camera ${ctx.cameraId}: ffmpeg source needs source.path (file or /dev/videoN) or source.url`);
    this.input = input;
    this.description = `ffmpeg ${redactUrl(input)}`;
  }

  protected async spec(signal: AbortSignal): Promise<ProcessSpec> {
    const { cfg, input } = this;
    const kind = inputKind(input);
    const deviceSize = kind === 'device' && cfg.width && cfg.height ? { width: cfg.width, height: cfg.height } : undefined;
    let size = outputSize(cfg);
    if (!size) {
      // Probe once per source: a camera's size does not change between reconnects, and probing a device is slow.
      if (!this.native) {
        const probeArgs = [...(kind === 'device' ? ['-f', 'v4l2'] : []), ...(cfg.args ?? [])];
        try {
          this.native = await probeSize(input, probeArgs, signal);
        } catch (err) {
          this.ctx.log.debug({ err: errorMessage(err) }, 'ffprobe failed');
        }
      }
      size = outputSize(cfg, this.native, this.ctx.maxWidth);
    }
    let output: ProcessOutput = { kind: 'mjpeg' };
    if (size && size.width * size.height <= MAX_FRAME_PIXELS) output = { kind: 'raw', ...size };
    this.ctx.log.debug({ output: output.kind, size }, 'ffmpeg output');
    return {
      programs: ['ffmpeg'],
      args: ffmpegArgs({ input, fps: this.ctx.fps, loop: cfg.loop, args: cfg.args, deviceSize, output }),
      installHint: 'install ffmpeg (Debian/Raspberry Pi OS: sudo apt install ffmpeg)',
      output,
      finite: kind === 'file' && !cfg.loop,
    };
  }
}
