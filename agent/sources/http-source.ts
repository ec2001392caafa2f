/**
 * HTTP cameras: polls a snapshot URL (one JPEG per GET) every interval_ms, or, when the server answers with
 * multipart/x-mixed-replace (an MJPEG stream), reads the stream frame by frame until it ends.
 * Credentials in the URL (http://user:pass@host/...) become a Basic Authorization header.
 */
import { FerError, errorMessage } from '../core/errors.js';
import type { SourceConfig } from '../config/schema.js';
import { linkSignals } from './abort.js';
import { DEFAULT_MAX_FRAME_BYTES, MjpegSplitter, MultipartSplitter, multipartBoundary, type FrameSplitter } from './mjpeg-splitter.js';
import { sleep } from './sleep.js';
import { redactUrl } from '../core/redact.js';
import type { FrameSource, SourceContext, SourceFrame } from './frame-source.js';

const DEFAULT_INTERVAL_MS = 1000;
const DEFAULT_TIMEOUT_MS = 5000;

/** Splits credentials off a URL (fetch refuses URLs that carry them). */
export function urlAndHeaders(raw: string): { url: string; headers: Record<string, string> } {
  const u = new URL(raw);
  const headers: Record<string, string> = {};
  if (u.username || u.password) {
    const user = decodeURIComponent(u.username);
    const pass = decodeURIComponent(u.password);
    headers.authorization = 'Basic ' + Buffer.from(`${user}:${pass}`).toString('base64');
    u.username = '';
    u.password = '';
  }
  return { url: u.toString(), headers };
}

function fetchFailure(what: string, err: unknown): string {
  // undici wraps the useful part (ECONNREFUSED, ...) in `cause`.
  const cause = err instanceof Error && err.cause !== undefined ? errorMessage(err.cause) : undefined;
  return `${what}: ${cause ?? errorMessage(err)}`;
}

/** An abort that fires when no progress is reported for `ms` (a stalled connection), re-armed by `touch()`. */
class StallTimer {
  readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly ms: number,
    private readonly what: string,
  ) {
    this.touch();
  }

  touch(): void {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.controller.abort(new FerError('source_failed', `${this.what}: no data for ${this.ms} ms`)), this.ms);
  }

  clear(): void {
    clearTimeout(this.timer);
  }
}

export class HttpSnapshotSource implements FrameSource {
  readonly description: string;
  private readonly url: string;
  private readonly headers: Record<string, string>;
  private discardedClosed = 0;
  private splitter: FrameSplitter | undefined;

  constructor(
    private readonly cfg: SourceConfig,
    private readonly ctx: SourceContext,
  ) {
    const raw = cfg.url || cfg.path;
    if (!raw) throw new FerError('config_invalid', `camera ${ctx.cameraId}: http-snapshot source needs source.url`);
    try {
      ({ url: this.url, headers: this.headers } = urlAndHeaders(raw));
    } catch (err) {
      throw new FerError('config_invalid', `camera ${ctx.cameraId}: source.url ${JSON.stringify(redactUrl(raw))} is not a URL: ${errorMessage(err)}`);
    }
    this.description = `http ${redactUrl(raw)}`;
  }

  get discarded(): number {
    return this.discardedClosed + (this.splitter?.discarded ?? 0);
  }

  private get timeoutMs(): number {
    return this.cfg.timeout_ms ?? DEFAULT_TIMEOUT_MS;
  }

  async *open(signal: AbortSignal): AsyncGenerator<SourceFrame> {
    const interval = this.cfg.interval_ms ?? DEFAULT_INTERVAL_MS;
    const { clock } = this.ctx;
    const what = `GET ${redactUrl(this.url)}`;
    let seq = 0;
    while (!signal.aborted) {
      const started = clock.mono();
      const stall = new StallTimer(this.timeoutMs, what);
      const req = linkSignals(signal, stall.controller.signal);
      try {
        const res = await fetch(this.url, { headers: this.headers, signal: req.signal, redirect: 'follow' });
        if (!res.ok) {
          await res.body?.cancel().catch(() => undefined);
          throw new FerError('source_failed', `${what} answered ${res.status} ${res.statusText}`);
        }
        const type = res.headers.get('content-type') ?? '';
        if (/^\s*multipart\//i.test(type)) {
          const boundary = multipartBoundary(type);
          // Without a boundary parameter the parts can still be found by their JPEG markers.
          yield* this.stream(res, boundary ? new MultipartSplitter(boundary) : new MjpegSplitter(), stall, signal, () => seq++);
          if (signal.aborted) return;
          throw new FerError('source_failed', `${what}: the MJPEG stream ended`);
        }
        const bytes = await this.readBody(res, stall, what);
        stall.clear();
        yield { kind: 'encoded', frame: { seq: seq++, monoMs: clock.mono(), wallMs: clock.wall(), bytes } };
      } catch (err) {
        if (signal.aborted) return;
        if (stall.controller.signal.aborted) throw stall.controller.signal.reason as FerError;
        throw err instanceof FerError ? err : new FerError('source_failed', fetchFailure(what, err), { cause: err });
      } finally {
        stall.clear();
        req.dispose();
      }
      await sleep(interval - (clock.mono() - started), signal);
    }
  }

  /** One snapshot body, refusing bodies over the frame size cap instead of buffering them. */
  private async readBody(res: Response, stall: StallTimer, what: string): Promise<Uint8Array> {
    const declared = Number(res.headers.get('content-length') ?? NaN);
    if (declared > DEFAULT_MAX_FRAME_BYTES) {
      await res.body?.cancel().catch(() => undefined);
      throw new FerError('source_failed', `${what}: snapshot of ${declared} bytes is over the ${DEFAULT_MAX_FRAME_BYTES} byte limit`);
    }
    if (!res.body) return new Uint8Array(0);
    const parts: Uint8Array[] = [];
    let total = 0;
    for await (const chunk of res.body) {
      stall.touch();
      total += chunk.length;
      if (total > DEFAULT_MAX_FRAME_BYTES) {
        await res.body.cancel().catch(() => undefined);
        throw new FerError('source_failed', `${what}: snapshot is over the ${DEFAULT_MAX_FRAME_BYTES} byte limit`);
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts);
  }

  private async *stream(res: Response, splitter: FrameSplitter, stall: StallTimer, signal: AbortSignal, nextSeq: () => number): AsyncGenerator<SourceFrame> {
    if (!res.body) return;
    const { clock } = this.ctx;
    this.splitter = splitter;
    try {
      for await (const chunk of res.body) {
        stall.touch();
        for (const bytes of splitter.push(chunk)) {
          yield { kind: 'encoded', frame: { seq: nextSeq(), monoMs: clock.mono(), wallMs: clock.wall(), bytes } };
        }
        if (signal.aborted) return;
      }
    } finally {
      this.discardedClosed += splitter.discarded;
      this.splitter = undefined;
      // Leaving early (stop, error) must close the connection.
      await res.body.cancel().catch(() => undefined);
    }
  }
}
