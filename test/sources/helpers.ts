/** Shared bits for the source tests: small real images, tmp dirs, real servers, polling. */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import sharp, { type JpegOptions } from 'sharp';
import type { FrameSource, SourceFrame } from '../../agent/sources/source.js';

/** A solid-colour JPEG whose red channel encodes `i` (i * 10), so tests can tell frames apart after decoding. */
export async function colourJpeg(i: number, width = 64, height = 48, extra: JpegOptions = {}): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: (i * 10) % 256, g: 80, b: 160 } } })
    .jpeg({ quality: 90, ...extra })
    .toBuffer();
}

/** A JPEG with busy content (so its entropy-coded data is long and has many FF 00 pairs). */
export async function noiseJpeg(seed: number, width = 96, height = 64): Promise<Buffer> {
  const px = Buffer.alloc(width * height * 3);
  let x = seed * 2654435761 + 1;
  for (let i = 0; i < px.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    px[i] = x >>> 24;
  }
  return sharp(px, { raw: { width, height, channels: 3 } }).jpeg({ quality: 80 }).toBuffer();
}

/** Which colour index a decoded frame carries (see colourJpeg). */
export function colourIndex(data: Uint8Array): number {
  return Math.round(data[0] / 10);
}

export function tmpDir(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'fer-sources-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function haveFfmpeg(): boolean {
  return spawnSync('ffmpeg', ['-version'], { stdio: 'ignore' }).status === 0;
}

/** Makes a short test video with ffmpeg's testsrc. */
export function makeVideo(dir: string, opts: { width?: number; height?: number; rate?: number; seconds?: number } = {}): string {
  const { width = 160, height = 120, rate = 25, seconds = 2 } = opts;
  const file = path.join(dir, 'testsrc.mp4');
  const r = spawnSync(
    'ffmpeg',
    ['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', `testsrc=size=${width}x${height}:rate=${rate}:duration=${seconds}`, '-pix_fmt', 'yuv420p', file],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(`ffmpeg could not make the test video: ${r.stderr}`);
  return file;
}

export { waitFor } from '../helpers/wait.js';

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Collects up to n frames from a source (then stops it). */
export async function take(source: FrameSource, n: number, timeoutMs = 5000): Promise<SourceFrame[]> {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  const out: SourceFrame[] = [];
  try {
    for await (const f of source.open(ctrl.signal)) {
      out.push(f);
      if (out.length >= n) break;
    }
  } finally {
    clearTimeout(timer);
    ctrl.abort();
  }
  return out;
}

/** A node:http server that tracks its sockets so tests can cut connections mid-stream. */
export class TestServer {
  readonly server: http.Server;
  private sockets = new Set<Socket>();

  constructor(handler: http.RequestListener) {
    this.server = http.createServer(handler);
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async listen(port = 0): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening and cuts every open connection. */
  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Serves multipart/x-mixed-replace: one part from `parts()` every `everyMs`, forever or until the client leaves. */
export function mjpegHandler(nextPart: (i: number) => Buffer | Promise<Buffer>, everyMs: number, boundary = 'fermjpeg', withLength = true): http.RequestListener {
  return (_req, res) => {
    res.writeHead(200, { 'content-type': `multipart/x-mixed-replace; boundary=${boundary}`, 'cache-control': 'no-cache' });
    let i = 0;
    let stopped = false;
    res.on('close', () => (stopped = true));
    const send = async (): Promise<void> => {
      while (!stopped) {
        const body = await nextPart(i++);
        const head = `--${boundary}\r\nContent-Type: image/jpeg\r\n${withLength ? `Content-Length: ${body.length}\r\n` : ''}\r\n`;
        res.write(Buffer.concat([Buffer.from(head), body, Buffer.from('\r\n')]));
        await delay(everyMs);
      }
    };
    void send();
  };
}
