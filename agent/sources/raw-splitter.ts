/** Cuts a rawvideo byte stream into fixed-size frames, copying each byte once (no concatenation of chunks). */
export class RawFrameSplitter {
  private cur: Uint8Array;
  private filled = 0;

  constructor(readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`raw frame size must be a positive integer, got ${frameBytes}`);
    this.cur = new Uint8Array(frameBytes);
  }

  /** Bytes held towards the next frame. */
  get buffered(): number {
    return this.filled;
  }

  push(chunk: Uint8Array): Uint8Array[] {
    const out: Uint8Array[] = [];
    let off = 0;
    while (off < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - off);
      this.cur.set(chunk.subarray(off, off + n), this.filled);
      this.filled += n;
      off += n;
      if (this.filled === this.frameBytes) {
        out.push(this.cur);
        this.cur = new Uint8Array(this.frameBytes);
        this.filled = 0;
      }
    }
    return out;
  }
}
