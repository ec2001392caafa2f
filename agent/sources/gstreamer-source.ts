/** A GStreamer pipeline run by gst-launch-1.0, with JPEG frames on stdout. */
import { FerError } from '../core/errors.js';
import type { SourceConfig } from '../config/schema.js';
import { ProcessSource, type ProcessSpec } from './process-source.js';
import type { SourceContext } from './frame-source.js';

/**
 * Splits a pipeline description into arguments the way a shell would (whitespace, quotes, backslash). gst-launch
 * escapes spaces inside each argument, so the pipeline must not be passed as one string.
 */
export function splitPipeline(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let has = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      has = true;
    } else if (ch === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(ch)) {
      if (has) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += ch;
      has = true;
    }
  }
  if (quote) throw new FerError('config_invalid', `gstreamer pipeline has an unclosed ${quote} quote: ${text}`);
  if (has) out.push(cur);
  return out;
}

/** Completes a pipeline so it writes JPEGs to stdout, unless it already ends in a sink. */
export function gstreamerArgs(pipeline: string): string[] {
  const tokens = splitPipeline(pipeline);
  if (tokens.length === 0) throw new FerError('config_invalid', 'gstreamer pipeline is empty');
  const lastBang = tokens.lastIndexOf('!');
  const last = tokens[lastBang + 1] ?? '';
  let tail: string[];
  if (/sink$/i.test(last)) tail = [];
  else if (/^(jpegenc|avenc_mjpeg|vaapijpegenc|v4l2jpegenc)$/.test(last) || /^image\/jpeg\b/.test(last)) tail = ['!', 'fdsink', 'fd=1'];
  else tail = ['!', 'jpegenc', '!', 'fdsink', 'fd=1'];
  return ['-q', ...tokens, ...tail];
}

export class GstreamerSource extends ProcessSource {
  readonly description: string;
  private readonly args: string[];

  constructor(cfg: SourceConfig, ctx: SourceContext) {
    super(ctx);
    if (!cfg.pipeline) throw new FerError('config_invalid', `camera ${ctx.cameraId}: gstreamer source needs source.pipeline`);
    this.args = gstreamerArgs(cfg.pipeline);
    this.description = `gstreamer ${cfg.pipeline}`;
  }

  protected spec(): Promise<ProcessSpec> {
    return Promise.resolve({
      programs: ['gst-launch-1.0'],
      args: this.args,
      installHint: 'install GStreamer (Debian/Raspberry Pi OS: sudo apt install gstreamer1.0-tools gstreamer1.0-plugins-good)',
      output: { kind: 'mjpeg' },
      finite: false,
    });
  }
}
