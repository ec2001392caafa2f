/**
 * Streaming splitters that cut a byte stream into JPEG frames: `MjpegSplitter` for concatenated JPEGs (ffmpeg
 * `-f mjpeg`, rpicam-vid, gstreamer `jpegenc ! fdsink`) and `MultipartSplitter` for multipart/x-mixed-replace over
 * HTTP. Pure: bytes in, frames out, no I/O. Memory is bounded: a frame that grows past `maxFrameBytes` without ending
 * is discarded and counted, and the splitter resynchronises on the next frame.
 */

export interface FrameSplitter {
  /** Feeds the next chunk; returns the frames it completed (copies, safe to keep). */
  push(chunk: Uint8Array): Uint8Array[];
  /** Frames or parts thrown away: larger than the cap, or cut short by the next frame's start. */
  readonly discarded: number;
  /** Bytes currently held while waiting for a frame to end. */
  readonly buffered: number;
}

export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

/** A growable byte buffer: appends amortised O(1), frames cut from the front. */
class ByteBuffer {
  buf: Buffer = Buffer.alloc(64 * 1024);
  len = 0;

  append(chunk: Uint8Array): void {
    if (this.len + chunk.length > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.len + chunk.length));
      this.buf.copy(next, 0, 0, this.len);
      this.buf = next;
    }
    this.buf.set(chunk, this.len);
    this.len += chunk.length;
  }

  /** Copies bytes [start, end) out. */
  copy(start: number, end: number): Uint8Array {
    return Uint8Array.prototype.slice.call(this.buf, start, end);
  }

  /** Drops the first n bytes. */
  drop(n: number): void {
    if (n >= this.len) {
      this.len = 0;
    } else if (n > 0) {
      this.buf.copyWithin(0, n, this.len);
      this.len -= n;
    }
    // Give back memory after a big frame so one large frame does not pin a large buffer forever.
    if (this.len === 0 && this.buf.length > 4 * 1024 * 1024) this.buf = Buffer.alloc(64 * 1024);
  }

  indexOf(needle: number | Uint8Array, from: number): number {
    return this.buf.subarray(0, this.len).indexOf(needle, from);
  }
}

const enum JpegState {
  /** Looking for SOI (FF D8). */
  Seek,
  /** At a marker in the header segments (or just after the scan). */
  Marker,
  /** In entropy-coded data, looking for the next real marker. */
  Scan,
}

/**
 * Cuts concatenated JPEGs. Walks the marker segments by their lengths, so an FF D9 inside an EXIF thumbnail or any
 * other segment payload does not end the frame early; in entropy-coded data FF 00 and RSTn are skipped.
 */
export class MjpegSplitter implements FrameSplitter {
  private readonly b = new ByteBuffer();
  private state = JpegState.Seek;
  /** Parse position inside the current frame (the frame starts at 0 once found). */
  private pos = 0;
  private discardedCount = 0;
  private readonly maxFrameBytes: number;

  constructor(opts: { maxFrameBytes?: number } = {}) {
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  get discarded(): number {
    return this.discardedCount;
  }

  get buffered(): number {
    return this.b.len;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    this.b.append(chunk);
    this.parse(out);
    if (this.state !== JpegState.Seek && this.b.len > this.maxFrameBytes) {
      // A runaway frame (no end marker): drop it rather than grow.
      this.discardedCount++;
      this.b.drop(this.b.len);
      this.state = JpegState.Seek;
      this.pos = 0;
    }
    return out;
  }

  private parse(out: Uint8Array[]): void {
    const b = this.b;
    for (;;) {
      const buf = b.buf;
      if (this.state === JpegState.Seek) {
        const i = b.indexOf(SOI, 0);
        if (i < 0) {
          // Keep a trailing FF: it may be the first half of an SOI split across chunks.
          b.drop(b.len > 0 && buf[b.len - 1] === 0xff ? b.len - 1 : b.len);
          return;
        }
        b.drop(i);
        this.pos = 2;
        this.state = JpegState.Marker;
        continue;
      }
      if (this.state === JpegState.Scan) {
        let i = this.pos;
        for (;;) {
          i = b.indexOf(0xff, i);
          if (i < 0 || i + 1 >= b.len) {
            this.pos = i < 0 ? b.len : i;
            return;
          }
          const m = buf[i + 1];
          if (m === 0x00 || (m >= 0xd0 && m <= 0xd7)) i += 2;
          else if (m === 0xff) i += 1;
          else break;
        }
        this.pos = i;
        this.state = JpegState.Marker;
        continue;
      }
      // Marker state.
      let p = this.pos;
      if (p + 1 >= b.len) return;
      if (buf[p] !== 0xff) {
        // Not a marker where one must be: the frame is malformed. Resync on the next SOI after this one.
        this.discardedCount++;
        b.drop(1);
        this.state = JpegState.Seek;
        continue;
      }
      while (p + 1 < b.len && buf[p + 1] === 0xff) p++; // fill bytes
      if (p + 1 >= b.len) {
        this.pos = p;
        return;
      }
      const m = buf[p + 1];
      if (m === 0xd9) {
        out.push(b.copy(0, p + 2));
        b.drop(p + 2);
        this.state = JpegState.Seek;
        continue;
      }
      if (m === 0xd8) {
        // A new frame starts before this one ended: the previous one was cut short.
        this.discardedCount++;
        b.drop(p);
        this.pos = 2;
        continue;
      }
      if (m === 0x01 || (m >= 0xd0 && m <= 0xd7)) {
        this.pos = p + 2;
        continue;
      }
      if (p + 3 >= b.len) {
        this.pos = p;
        return;
      }
      const segLen = (buf[p + 2] << 8) | buf[p + 3];
      if (segLen < 2) {
        this.discardedCount++;
        b.drop(1);
        this.state = JpegState.Seek;
        continue;
      }
      const next = p + 2 + segLen;
      if (m === 0xda) {
        // The scan header must be complete before scanning entropy data after it.
        if (next > b.len) {
          this.pos = p;
          return;
        }
        this.pos = next;
        this.state = JpegState.Scan;
        continue;
      }
      // May point past the buffered bytes: the marker check above waits for them.
      this.pos = next;
    }
  }
}

const SOI = Buffer.from([0xff, 0xd8]);
const CRLFCRLF = Buffer.from('\r\n\r\n');
const LFLF = Buffer.from('\n\n');
const MAX_HEADER_BYTES = 16 * 1024;

const enum PartState {
  /** Looking for the boundary line. */
  Boundary,
  /** Reading part headers up to the blank line. */
  Headers,
  /** Reading the body. */
  Body,
  /** Skipping the body of a part that is over the cap (Content-Length known). */
  Skip,
  /** After the closing boundary: ignore everything. */
  Done,
}

/** The boundary parameter of a multipart Content-Type, or undefined. */
export function multipartBoundary(contentType: string | null | undefined): string | undefined {
  if (!contentType || !/^\s*multipart\//i.test(contentType)) return undefined;
  const m = /boundary\s*=\s*(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  const b = m?.[1] ?? m?.[2];
  return b && b.length > 0 ? b : undefined;
}

/**
 * Cuts a multipart/x-mixed-replace body into part bodies. Uses Content-Length when the part has one and otherwise
 * the next boundary. Tolerates what cameras do in practice: a boundary parameter that already starts with `--`,
 * LF-only line ends, missing CRLF before a boundary. Parts are returned as-is (even empty ones): deciding whether the
 * bytes are a usable image is the decoder's job.
 */
export class MultipartSplitter implements FrameSplitter {
  private readonly b = new ByteBuffer();
  private readonly token: Buffer;
  private state = PartState.Boundary;
  private contentLength: number | undefined;
  private skipLeft = 0;
  private searchFrom = 0;
  private discardedCount = 0;
  private readonly maxFrameBytes: number;

  constructor(boundary: string, opts: { maxFrameBytes?: number } = {}) {
    // Searching for the bare token matches both `--token` and servers that put the dashes in the parameter.
    this.token = Buffer.from(boundary.replace(/^--/, ''));
    this.maxFrameBytes = opts.maxFrameBytes ?? DEFAULT_MAX_FRAME_BYTES;
  }

  get discarded(): number {
    return this.discardedCount;
  }

  get buffered(): number {
    return this.b.len;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let c = chunk;
    while (c.length > 0) {
      if (this.state === PartState.Done) return out;
      if (this.state === PartState.Skip) {
        const n = Math.min(this.skipLeft, c.length);
        this.skipLeft -= n;
        c = c.subarray(n);
        if (this.skipLeft === 0) this.state = PartState.Boundary;
        continue;
      }
      this.b.append(c);
      c = new Uint8Array(0);
      this.parse(out);
    }
    return out;
  }

  private parse(out: Uint8Array[]): void {
    const b = this.b;
    for (;;) {
      if (this.state === PartState.Boundary) {
        const i = b.indexOf(this.token, 0);
        if (i < 0) {
          // Keep a tail that may hold the start of the token.
          b.drop(Math.max(0, b.len - this.token.length));
          return;
        }
        const after = i + this.token.length;
        const eol = b.indexOf(0x0a, after);
        if (eol < 0) {
          b.drop(i);
          if (b.len > MAX_HEADER_BYTES) b.drop(b.len);
          return;
        }
        const closing = b.len >= after + 2 && b.buf[after] === 0x2d && b.buf[after + 1] === 0x2d;
        b.drop(eol + 1);
        if (closing) {
          this.state = PartState.Done;
          b.drop(b.len);
          return;
        }
        this.state = PartState.Headers;
        continue;
      }
      if (this.state === PartState.Headers) {
        // A part with no headers at all starts directly with the blank line.
        let end: number;
        let sepLen: number;
        if (b.len >= 2 && b.buf[0] === 0x0d && b.buf[1] === 0x0a) {
          end = 0;
          sepLen = 2;
        } else if (b.len >= 1 && b.buf[0] === 0x0a) {
          end = 0;
          sepLen = 1;
        } else {
          const crlf = b.indexOf(CRLFCRLF, 0);
          const lf = b.indexOf(LFLF, 0);
          if (crlf >= 0 && (lf < 0 || crlf <= lf)) {
            end = crlf;
            sepLen = 4;
          } else if (lf >= 0) {
            end = lf;
            sepLen = 2;
          } else {
            if (b.len > MAX_HEADER_BYTES) {
              this.discardedCount++;
              b.drop(b.len);
              this.state = PartState.Boundary;
            }
            return;
          }
        }
        const headers = b.buf.subarray(0, end).toString('latin1');
        b.drop(end + sepLen);
        const m = /(?:^|\n)\s*content-length\s*:\s*(\d+)/i.exec(headers);
        this.contentLength = m ? Number(m[1]) : undefined;
        if (this.contentLength !== undefined && this.contentLength > this.maxFrameBytes) {
          this.discardedCount++;
          const n = Math.min(this.contentLength, b.len);
          this.skipLeft = this.contentLength - n;
          b.drop(n);
          if (this.skipLeft > 0) {
            // The rest of the body arrives in later chunks; push() skips it without buffering.
            this.state = PartState.Skip;
            return;
          }
          this.state = PartState.Boundary;
          continue;
        }
        this.state = PartState.Body;
        this.searchFrom = 0;
        continue;
      }
      if (this.state === PartState.Body) {
        if (this.contentLength !== undefined) {
          if (b.len < this.contentLength) return;
          out.push(b.copy(0, this.contentLength));
          b.drop(this.contentLength);
          this.state = PartState.Boundary;
          continue;
        }
        // Resume the search where the last one stopped: large parts arrive in many chunks.
        const i = b.indexOf(this.token, this.searchFrom);
        if (i < 0) {
          this.searchFrom = Math.max(0, b.len - this.token.length + 1);
          if (b.len > this.maxFrameBytes) {
            this.discardedCount++;
            // Keep a tail that may hold the start of the next boundary.
            b.drop(Math.max(0, b.len - this.token.length - 2));
            this.state = PartState.Boundary;
          }
          return;
        }
        // The body ends before the `--` (and CRLF) that introduce the boundary.
        let end = i;
        while (end > 0 && end > i - 2 && b.buf[end - 1] === 0x2d) end--;
        if (end > 0 && b.buf[end - 1] === 0x0a) end--;
        if (end > 0 && b.buf[end - 1] === 0x0d) end--;
        out.push(b.copy(0, end));
        b.drop(end);
        this.state = PartState.Boundary;
        continue;
      }
      return;
    }
  }
}
