/**
 * The latest frame of each camera as a small JPEG, encoded only when a page asks for it and at most `maxPerSecond`
 * times per camera whatever the number of pages: a page polling faster gets the last encoding again.
 *
 * Frames are taken from the bus only while `watch()` holds (a page is connected or a request is waiting); the
 * pipeline emits 'frame' only while someone listens, so with no page open no frame is kept or encoded.
 */
import sharp from 'sharp';
import type { Bus } from '../core/bus.js';
import type { Clock } from '../core/clock.js';
import type { Frame } from '../core/types.js';

export interface Jpeg {
  cameraId: string;
  seq: number;
  /** Size of the camera frame the boxes refer to. */
  frameWidth: number;
  frameHeight: number;
  bytes: Buffer;
}

export interface FrameJpegOptions {
  bus: Bus;
  clock: Clock;
  /** Longest side of the JPEG (frames are shrunk, never enlarged). */
  maxSide?: number;
  quality?: number;
  maxPerSecond?: number;
  /** A stored frame older than this is not served; the request waits for a new one. */
  maxAgeMs?: number;
}

/** Encodes a decoded frame as JPEG, shrunk to fit maxSide. */
export async function encodeFrame(frame: Frame, maxSide: number, quality: number): Promise<Buffer> {
  const raw = Buffer.from(frame.data.buffer, frame.data.byteOffset, frame.data.byteLength);
  return sharp(raw, { raw: { width: frame.width, height: frame.height, channels: frame.channels } })
    .resize({ width: maxSide, height: maxSide, fit: 'inside', withoutEnlargement: true })
    .jpeg({ quality, mozjpeg: false })
    .toBuffer();
}

interface Latest {
  frame: Frame;
  receivedMono: number;
}

interface Encoded {
  jpeg: Jpeg;
  encodedMono: number;
}

export class FrameJpegs {
  private readonly latest = new Map<string, Latest>();
  private readonly encoded = new Map<string, Encoded>();
  private readonly inFlight = new Map<string, Promise<Jpeg>>();
  private readonly waiters = new Map<string, Array<() => void>>();
  private holders = 0;
  private readonly maxSide: number;
  private readonly quality: number;
  private readonly minIntervalMs: number;
  private readonly maxAgeMs: number;
  private readonly onFrame = (f: Frame): void => {
    this.latest.set(f.cameraId, { frame: f, receivedMono: this.o.clock.mono() });
    const w = this.waiters.get(f.cameraId);
    if (w) {
      this.waiters.delete(f.cameraId);
      for (const wake of w) wake();
    }
  };

  constructor(private readonly o: FrameJpegOptions) {
    this.maxSide = o.maxSide ?? 640;
    this.quality = o.quality ?? 70;
    this.minIntervalMs = 1000 / (o.maxPerSecond ?? 4);
    this.maxAgeMs = o.maxAgeMs ?? 2000;
  }

  /** Starts taking frames from the bus until the returned function is called (reference counted). */
  watch(): () => void {
    if (this.holders++ === 0) this.o.bus.on('frame', this.onFrame);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holders === 0) {
        this.o.bus.off('frame', this.onFrame);
        // Drop pixels nobody is looking at.
        this.latest.clear();
        this.encoded.clear();
      }
    };
  }

  get watching(): boolean {
    return this.holders > 0;
  }

  /** The newest frame of a camera as JPEG, waiting up to `waitMs` for one; null if none came. */
  async jpeg(cameraId: string, waitMs: number): Promise<Jpeg | null> {
    const release = this.watch();
    try {
      if (!this.fresh(cameraId) && !(await this.waitFrame(cameraId, waitMs))) return null;
      const now = this.o.clock.mono();
      const enc = this.encoded.get(cameraId);
      const latest = this.latest.get(cameraId);
      if (enc && (enc.jpeg.seq === latest?.frame.seq || now - enc.encodedMono < this.minIntervalMs)) return enc.jpeg;
      return await this.encode(cameraId);
    } finally {
      release();
    }
  }

  private fresh(cameraId: string): boolean {
    const l = this.latest.get(cameraId);
    return l !== undefined && this.o.clock.mono() - l.receivedMono <= this.maxAgeMs;
  }

  private waitFrame(cameraId: string, waitMs: number): Promise<boolean> {
    return new Promise((resolve) => {
      const list = this.waiters.get(cameraId) ?? [];
      const timer = setTimeout(() => {
        const l = this.waiters.get(cameraId);
        if (l) l.splice(l.indexOf(wake), 1);
        resolve(false);
      }, waitMs);
      const wake = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      list.push(wake);
      this.waiters.set(cameraId, list);
    });
  }

  /** One encoding per camera at a time; concurrent requests share it. */
  private encode(cameraId: string): Promise<Jpeg> {
    const pending = this.inFlight.get(cameraId);
    if (pending) return pending;
    const { frame } = this.latest.get(cameraId) as Latest;
    const p = encodeFrame(frame, this.maxSide, this.quality)
      .then((bytes) => {
        const jpeg: Jpeg = { cameraId, seq: frame.seq, frameWidth: frame.width, frameHeight: frame.height, bytes };
        if (this.holders > 0) this.encoded.set(cameraId, { jpeg, encodedMono: this.o.clock.mono() });
        return jpeg;
      })
      .finally(() => this.inFlight.delete(cameraId));
    this.inFlight.set(cameraId, p);
    return p;
  }
}
