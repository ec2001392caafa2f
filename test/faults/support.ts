/**
 * Fault injection helpers: broken frames (corrupt, truncated, empty, a header claiming 900 megapixels), a real
 * MJPEG-over-HTTP camera that can die and come back on the same port, a logger that keeps what it logged, and an
 * agent-shaped pipeline wired to a real source through CameraFeed.
 */
import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger } from '../../agent/core/log.js';
import { sampleFramesDir } from '../../agent/core/paths.js';

export function tmpDir(t: { teardown(fn: () => void): void }, prefix = 'fer-faults-'): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

export function copyDir(from: string, to: string): string {
  cpSync(from, to, { recursive: true });
  return to;
}

/** A demo frame with one face (the astronaut, 640x480). */
export function faceJpeg(i = 0): Buffer {
  return readFileSync(path.join(sampleFramesDir, `${String(1 + (i % 12)).padStart(4, '0')}.jpg`));
}

export const delay = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export { waitFor } from '../helpers/wait.js';

/** The broken frames every source must survive, each with the words its rejection must contain. */
export function brokenFrames(): Array<{ name: string; bytes: Buffer; reason: RegExp }> {
  const good = faceJpeg(0);
  // A JPEG start followed by noise: looks like an image, is not one.
  let x = 99;
  const noise = Buffer.alloc(20_000);
  for (let i = 0; i < noise.length; i++) noise[i] = (x = (x * 1103515245 + 12345) >>> 0) >>> 24;
  noise[0] = 0xff;
  noise[1] = 0xd8;
  return [
    { name: 'corrupt', bytes: noise, reason: /not a decodable image|truncated/ },
    { name: 'truncated', bytes: good.subarray(0, Math.floor(good.length * 0.4)), reason: /truncated/ },
    { name: 'zero-size', bytes: Buffer.alloc(0), reason: /empty \(0 bytes\)/ },
    { name: 'huge', bytes: hugeHeaderJpeg(good, 30_000, 30_000), reason: /30000x30000 .*over the/ },
  ];
}

/** A real JPEG whose frame header (SOF) claims width×height: a decompression bomb as far as any decoder can tell. */
export function hugeHeaderJpeg(jpeg: Buffer, width: number, height: number): Buffer {
  const out = Buffer.from(jpeg);
  let i = 2;
  while (i + 9 < out.length) {
    if (out[i] !== 0xff) throw new Error(`no JPEG marker at ${i}`);
    const marker = out[i + 1]!;
    const len = out.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc3) {
      out.writeUInt16BE(height, i + 5);
      out.writeUInt16BE(width, i + 7);
      return out;
    }
    i += 2 + len;
  }
  throw new Error('no SOF marker found');
}

/** Pino at debug into memory, so tests can check what the agent said about each fault. */
export function memoryLogger(): { log: Logger; lines: () => Array<Record<string, unknown>> } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const log = pino({ level: 'debug' }, stream);
  return { log, lines: () => chunks.join('').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) };
}

/**
 * An MJPEG camera over HTTP (multipart/x-mixed-replace with Content-Length per part, as most IP cameras send).
 * Each connection plays `script` once (only on the first connection when `scriptOnce`), then good frames until the
 * camera is killed. kill() drops every connection and stops listening; revive() listens on the same port again.
 */
export class MjpegCamera {
  private server: http.Server;
  private sockets = new Set<Socket>();
  private connections = 0;
  port = 0;
  partsSent = 0;
  scriptDone = false;

  constructor(
    private readonly script: Buffer[],
    private readonly good: Buffer[],
    private readonly intervalMs: number,
  ) {
    this.server = this.makeServer();
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/stream`;
  }

  private makeServer(): http.Server {
    const server = http.createServer((req, res) => {
      const first = this.connections++ === 0;
      const boundary = 'ferframe';
      res.writeHead(200, { 'content-type': `multipart/x-mixed-replace; boundary=${boundary}`, 'cache-control': 'no-cache' });
      const parts = first ? [...this.script] : [];
      let g = 0;
      const send = (): void => {
        if (res.destroyed) return;
        const body = parts.length ? parts.shift()! : this.good[g++ % this.good.length]!;
        if (first && parts.length === 0) this.scriptDone = true;
        res.write(`--${boundary}\r\ncontent-type: image/jpeg\r\ncontent-length: ${body.length}\r\n\r\n`);
        res.write(body);
        res.write('\r\n');
        this.partsSent++;
        timer = setTimeout(send, this.intervalMs);
      };
      let timer = setTimeout(send, 10);
      res.on('close', () => clearTimeout(timer));
      req.on('close', () => clearTimeout(timer));
    });
    server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return server;
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port, '127.0.0.1', () => resolve());
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** The camera dies: connections reset mid-stream, the port refuses new ones. */
  async kill(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    await closed;
  }

  async revive(): Promise<void> {
    this.server = this.makeServer();
    await this.start();
  }
}
