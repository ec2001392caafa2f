import test from 'ava';
import fc from 'fast-check';
import { MjpegSplitter, MultipartSplitter, multipartBoundary } from '../../agent/sources/mjpeg-splitter.js';
import { RawFrameSplitter } from '../../agent/sources/raw-splitter.js';
import { colourJpeg, noiseJpeg } from './helpers.js';

/** Cuts `data` at the given positions (any order, duplicates allowed). */
function chunk(data: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (data.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let prev = 0;
  for (const p of [...points, data.length]) {
    out.push(data.subarray(prev, p));
    prev = p;
  }
  return out;
}

function feed(splitter: { push(c: Uint8Array): Uint8Array[] }, chunks: Uint8Array[]): Uint8Array[] {
  return chunks.flatMap((c) => splitter.push(c));
}

const u8 = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

/** Bytes with no FF at all: garbage between frames that cannot look like a marker. */
const noFF = fc.uint8Array({ maxLength: 40 }).map((a) => a.map((x) => (x === 0xff ? 0xfe : x)));

/**
 * A synthetic JPEG: header segments with arbitrary payloads (which may contain FF D8 / FF D9, as an EXIF thumbnail
 * does), a scan header, entropy-coded data with FF stuffing and restart markers, then EOI.
 */
const syntheticJpeg = fc
  .record({
    segments: fc.array(fc.record({ marker: fc.constantFrom(0xe0, 0xe1, 0xe2, 0xdb, 0xc4, 0xc0, 0xfe), payload: fc.uint8Array({ maxLength: 120 }) }), { maxLength: 4 }),
    sos: fc.uint8Array({ minLength: 4, maxLength: 12 }),
    scan: fc.array(fc.oneof(fc.integer({ min: 0, max: 0xfe }), fc.constant(-1), fc.integer({ min: -9, max: -2 })), { maxLength: 300 }),
  })
  .map(({ segments, sos, scan }) => {
    const bytes: number[] = [0xff, 0xd8];
    for (const s of segments) bytes.push(0xff, s.marker, (s.payload.length + 2) >> 8, (s.payload.length + 2) & 0xff, ...s.payload);
    bytes.push(0xff, 0xda, 0, sos.length + 2, ...sos);
    for (const x of scan) {
      if (x >= 0) bytes.push(x);
      else if (x === -1) bytes.push(0xff, 0x00); // stuffed FF
      else bytes.push(0xff, 0xd0 + (-x - 2)); // RST0..RST7
    }
    bytes.push(0xff, 0xd9);
    return Uint8Array.from(bytes);
  });

test('mjpeg: synthetic frames with garbage between them come out whole across any chunk boundaries', (t) => {
  fc.assert(
    fc.property(fc.array(fc.tuple(noFF, syntheticJpeg), { minLength: 1, maxLength: 6 }), noFF, fc.array(fc.nat(), { maxLength: 30 }), (pairs, tail, cuts) => {
      const stream = Buffer.concat([...pairs.flatMap(([g, f]) => [g, f]), tail]);
      const sp = new MjpegSplitter();
      const out = feed(sp, chunk(stream, cuts));
      t.deepEqual(out.map((f) => Buffer.from(f).toString('hex')), pairs.map(([, f]) => Buffer.from(f).toString('hex')));
      t.is(sp.discarded, 0);
      t.is(sp.buffered, 0);
    }),
    { numRuns: 300 },
  );
});

test('mjpeg: real JPEGs (one byte at a time, and in random chunks) come out byte-identical', async (t) => {
  const frames = [await colourJpeg(1), await noiseJpeg(2), await colourJpeg(3, 33, 17), await noiseJpeg(4, 40, 40)];
  const stream = Buffer.concat(frames);
  const oneByte = feed(new MjpegSplitter(), Array.from(stream, (b) => u8(b)));
  t.deepEqual(oneByte.map((f) => Buffer.from(f)), frames);
  fc.assert(
    fc.property(fc.array(fc.nat(), { maxLength: 20 }), (cuts) => {
      const out = feed(new MjpegSplitter(), chunk(stream, cuts));
      t.is(out.length, frames.length);
      out.forEach((f, i) => t.true(Buffer.from(f).equals(frames[i])));
    }),
    { numRuns: 100 },
  );
});

test('mjpeg: an FF D9 inside a header segment (EXIF thumbnail) does not end the frame', (t) => {
  const thumb = [0xff, 0xd8, 0x01, 0x02, 0xff, 0xd9];
  const frame = u8(0xff, 0xd8, 0xff, 0xe1, 0, thumb.length + 2, ...thumb, 0xff, 0xda, 0, 4, 1, 2, 0x11, 0xff, 0x00, 0x22, 0xff, 0xd9);
  const out = new MjpegSplitter().push(frame);
  t.is(out.length, 1);
  t.deepEqual(Buffer.from(out[0]), Buffer.from(frame));
});

test('mjpeg: a frame cut short by the next SOI is discarded and counted, the next one survives', async (t) => {
  const good = await noiseJpeg(7);
  const cut = good.subarray(0, Math.floor(good.length * 0.7)); // ends inside the entropy-coded data
  const sp = new MjpegSplitter();
  const out = feed(sp, [cut, good, good]);
  t.is(out.length, 2);
  t.true(Buffer.from(out[0]).equals(good));
  t.is(sp.discarded, 1);
});

test('mjpeg: a runaway frame without EOI is dropped at the cap and memory stays bounded', async (t) => {
  const max = 256 * 1024;
  const sp = new MjpegSplitter({ maxFrameBytes: max });
  const junk = Buffer.alloc(64 * 1024, 0x42);
  let maxBuffered = 0;
  sp.push(u8(0xff, 0xd8, 0xff, 0xda, 0, 4, 1, 2));
  for (let i = 0; i < 80; i++) {
    t.deepEqual(sp.push(junk), []);
    maxBuffered = Math.max(maxBuffered, sp.buffered);
  }
  t.true(sp.discarded >= 1);
  t.true(maxBuffered <= max + junk.length, `buffered up to ${maxBuffered}`);
  const good = await colourJpeg(5);
  const out = sp.push(good);
  t.is(out.length, 1);
  t.true(Buffer.from(out[0]).equals(good));
});

test('multipart boundary parameter is read from the content type', (t) => {
  t.is(multipartBoundary('multipart/x-mixed-replace; boundary=frame'), 'frame');
  t.is(multipartBoundary('multipart/x-mixed-replace;boundary="--my frame"'), '--my frame');
  t.is(multipartBoundary('image/jpeg'), undefined);
  t.is(multipartBoundary('multipart/x-mixed-replace'), undefined);
});

test('multipart: parts come out whole across any chunk boundaries, with or without Content-Length', (t) => {
  const jpegLike = fc.uint8Array({ maxLength: 200 }).map((a) => Buffer.concat([u8(0xff, 0xd8), a, u8(0xff, 0xd9)]));
  fc.assert(
    fc.property(
      fc.array(fc.oneof(jpegLike, fc.constant(new Uint8Array(0)), fc.uint8Array({ maxLength: 50 })), { minLength: 1, maxLength: 6 }),
      fc.boolean(),
      fc.constantFrom('\r\n', '\n'),
      fc.boolean(),
      fc.array(fc.nat(), { maxLength: 30 }),
      (parts, withLength, eol, dashesInParam, cuts) => {
        // Without Content-Length the boundary decides where a body ends: use JPEG-shaped bodies there.
        const bodies = withLength ? parts : parts.map((p) => Buffer.concat([u8(0xff, 0xd8), p, u8(0xff, 0xd9)]));
        const token = 'xFerBoundary42x';
        const pieces: Buffer[] = [Buffer.from('preamble to ignore' + eol)];
        for (const body of bodies) {
          const head = `--${token}${eol}Content-Type: image/jpeg${eol}${withLength ? `Content-Length: ${body.length}${eol}` : ''}${eol}`;
          pieces.push(Buffer.from(head), Buffer.from(body), Buffer.from(eol));
        }
        pieces.push(Buffer.from(`--${token}--${eol}`));
        const sp = new MultipartSplitter(dashesInParam ? `--${token}` : token);
        const out = feed(sp, chunk(Buffer.concat(pieces), cuts));
        t.deepEqual(out.map((f) => Buffer.from(f).toString('hex')), bodies.map((b) => Buffer.from(b).toString('hex')));
        t.is(sp.discarded, 0);
      },
    ),
    { numRuns: 300 },
  );
});

test('multipart: a part over the cap is skipped without buffering it, the next part survives', (t) => {
  const sp = new MultipartSplitter('b', { maxFrameBytes: 1000 });
  const big = Buffer.alloc(50_000, 1);
  const small = Buffer.from([0xff, 0xd8, 9, 0xff, 0xd9]);
  const stream = Buffer.concat([
    Buffer.from(`--b\r\nContent-Length: ${big.length}\r\n\r\n`),
    big,
    Buffer.from(`\r\n--b\r\nContent-Length: ${small.length}\r\n\r\n`),
    small,
    Buffer.from('\r\n'),
  ]);
  let maxBuffered = 0;
  const out: Uint8Array[] = [];
  for (const c of chunk(stream, Array.from({ length: 60 }, (_, i) => i * 997))) {
    out.push(...sp.push(c));
    maxBuffered = Math.max(maxBuffered, sp.buffered);
  }
  t.is(out.length, 1);
  t.deepEqual(Buffer.from(out[0]), small);
  t.is(sp.discarded, 1);
  t.true(maxBuffered <= 2000, `buffered up to ${maxBuffered}`);
});

test('raw: fixed-size frames come out whole across any chunk boundaries', (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 5 }), fc.array(fc.nat(), { maxLength: 20 }), (size, n, cuts) => {
      const frames = Array.from({ length: n }, (_, i) => Buffer.alloc(size, i + 1));
      const sp = new RawFrameSplitter(size);
      const out = feed(sp, chunk(Buffer.concat(frames), cuts));
      t.deepEqual(out.map((f) => Buffer.from(f)), frames);
      t.is(sp.buffered, 0);
    }),
  );
});
