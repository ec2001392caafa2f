import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import test from 'ava';
import fc from 'fast-check';
import { FerError, type ReasonCode } from '../../agent/core/errors.js';
import { extractEntries, packBundle, readArchive, readTar, writeTar, type TarEntry } from '../../agent/models/archive.js';
import { loadBundle } from '../../agent/models/bundle.js';
import { checkBundlePath } from '../../agent/models/manifest.js';
import { fixtureBundle, tempDir } from './support.js';

const LIMITS = { maxBytes: 1024 * 1024, maxEntries: 16 };
const text = (s: string): Uint8Array => new Uint8Array(Buffer.from(s));

const sample: TarEntry[] = [
  { path: 'manifest.json', data: text('{"a":1}') },
  { path: 'tfjs/model.json', data: text('x'.repeat(700)) },
  { path: 'empty.bin', data: new Uint8Array(0) },
  { path: `${'d'.repeat(120)}/${'f'.repeat(90)}`, data: text('long path') },
];

/** Builds an archive with Python's tarfile (an independent implementation) from a small script body. */
function pyTar(body: string): Uint8Array {
  const dir = tempDir();
  const out = path.join(dir, 'a.tar');
  const script = `import io, tarfile, sys\nt = tarfile.open(sys.argv[1], 'w', format=tarfile.PAX_FORMAT)\ndef add(name, data=b'x', **kw):\n    ti = tarfile.TarInfo(name); ti.size = len(data)\n    for k, v in kw.items(): setattr(ti, k, v)\n    t.addfile(ti, io.BytesIO(data) if ti.isreg() else None)\n${body}\nt.close()\n`;
  execFileSync('python3', ['-c', script, out]);
  return new Uint8Array(readFileSync(out));
}

async function rejects(t: import('ava').ExecutionContext, bytes: Uint8Array, reason: ReasonCode, msg: RegExp, limits = LIMITS): Promise<void> {
  const err = await t.throwsAsync(readArchive(bytes, limits), { instanceOf: FerError });
  t.is(err?.reason, reason, err?.message);
  t.regex(err!.message, msg);
}

test('write → read round trip keeps paths (incl. ustar prefix split) and bytes', async (t) => {
  const tar = writeTar(sample);
  t.is(tar.length % 512, 0);
  const back = await readArchive(tar, LIMITS);
  t.deepEqual(back.map((e) => e.path), sample.map((e) => e.path));
  back.forEach((e, i) => t.deepEqual(Buffer.from(e.data), Buffer.from(sample[i]!.data)));
  const gz = await readArchive(new Uint8Array(gzipSync(tar)), LIMITS);
  t.deepEqual(gz.map((e) => e.path), sample.map((e) => e.path));
});

test('GNU tar reads what we write, and we read what GNU tar writes (./ prefixes, folder entries)', async (t) => {
  const dir = tempDir();
  writeFileSync(path.join(dir, 'ours.tar'), writeTar(sample));
  const listed = execFileSync('tar', ['-tf', path.join(dir, 'ours.tar')], { encoding: 'utf8' }).trim().split('\n');
  t.deepEqual(listed, sample.map((e) => e.path));

  const src = path.join(dir, 'src');
  mkdirSync(path.join(src, 'tfjs'), { recursive: true });
  writeFileSync(path.join(src, 'manifest.json'), '{}');
  writeFileSync(path.join(src, 'tfjs', 'w.bin'), Buffer.alloc(1500, 3));
  execFileSync('tar', ['-C', src, '-czf', path.join(dir, 'gnu.tgz'), '.']);
  const entries = await readArchive(new Uint8Array(readFileSync(path.join(dir, 'gnu.tgz'))), LIMITS);
  t.deepEqual(entries.map((e) => e.path).sort(), ['manifest.json', 'tfjs/w.bin']);
  t.deepEqual(Buffer.from(entries.find((e) => e.path === 'tfjs/w.bin')!.data), Buffer.alloc(1500, 3));
});

test('Python tarfile (pax headers for long names and float mtimes) is read', async (t) => {
  const long = 'x/'.repeat(60) + 'file.bin';
  const tar = pyTar(`add('manifest.json', b'{}', mtime=1.5)\nadd(${JSON.stringify(long)}, b'long')\nadd('tfjs', b'', type=tarfile.DIRTYPE)`);
  const entries = await readArchive(tar, LIMITS);
  t.deepEqual(entries.map((e) => e.path), ['manifest.json', long]);
  t.is(Buffer.from(entries[1]!.data).toString(), 'long');
});

test('packBundle puts manifest.json first and the bundle survives pack → read → extract → load', async (t) => {
  const b = await loadBundle(fixtureBundle());
  const archive = await packBundle(b);
  const entries = await readArchive(archive, { maxBytes: 32 << 20, maxEntries: 64 });
  t.is(entries[0]!.path, 'manifest.json');
  const dest = tempDir();
  await extractEntries(entries, dest);
  const back = await loadBundle(dest);
  t.is(back.manifestSha256, b.manifestSha256);
});

const craftedRejections: Array<[string, string, RegExp]> = [
  ['symlink', `add('model.onnx', type=tarfile.SYMTYPE, linkname='/etc/passwd')`, /symlink/],
  ['hard link', `add('a', b'x')\nadd('b', type=tarfile.LNKTYPE, linkname='a')`, /hard link/],
  ['character device', `add('dev', type=tarfile.CHRTYPE)`, /character device/],
  ['FIFO', `add('fifo', type=tarfile.FIFOTYPE)`, /FIFO/],
  ['absolute path', `add('/etc/cron.d/x', b'x')`, /unsafe path/],
  ['.. path', `add('tfjs/../../x', b'x')`, /unsafe path/],
  ['.. via pax path', `add('ok', b'x', pax_headers={'path': '../evil'})`, /unsafe path/],
  ['duplicate entry', `add('a', b'1')\nadd('a', b'2')`, /twice/],
  ['file and folder of the same name', `add('a', b'1')\nadd('a/b', b'2')`, /both a file and a folder/],
  ['backslash path', `add('a\\\\b', b'1')`, /unsafe path/],
];
for (const [title, body, msg] of craftedRejections) {
  test(`archive rejects: ${title}`, async (t) => {
    await rejects(t, pyTar(body), 'model_archive_corrupt', msg);
  });
}

test('archive rejects: bad checksum, not ustar, truncated, not block-aligned, trailing data, empty', async (t) => {
  const good = writeTar(sample);
  const badSum = good.slice();
  badSum[10] = badSum[10]! ^ 1;
  await rejects(t, badSum, 'model_archive_corrupt', /checksum/);
  const noMagic = good.slice();
  noMagic.set(Buffer.from('xxxxx'), 257);
  await rejects(t, noMagic, 'model_archive_corrupt', /checksum|not a ustar/);
  await rejects(t, good.subarray(0, 1024), 'model_archive_corrupt', /run past the end|truncated/);
  await rejects(t, good.subarray(0, good.length - 1024), 'model_archive_corrupt', /end-of-archive|truncated/);
  await rejects(t, good.subarray(0, 700), 'model_archive_corrupt', /multiple of 512/);
  const trailing = new Uint8Array(good.length + 512);
  trailing.set(good);
  trailing[good.length + 3] = 9;
  await rejects(t, trailing, 'model_archive_corrupt', /after the end-of-archive/);
  await rejects(t, new Uint8Array(0), 'model_archive_corrupt', /empty/);
  await rejects(t, new Uint8Array([0x1f, 0x8b, 1, 2, 3]), 'model_archive_corrupt', /gzip/);
});

test('archive limits: size, decompressed size (gzip bomb), entry count', async (t) => {
  const big = writeTar([{ path: 'a', data: new Uint8Array(600_000) }, { path: 'b', data: new Uint8Array(600_000) }]);
  await rejects(t, big, 'model_too_large', /at most 1048576/);
  const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
  t.true(bomb.length < 200_000);
  await rejects(t, new Uint8Array(bomb), 'model_too_large', /decompresses to more than/);
  const many = writeTar(Array.from({ length: 17 }, (_, i) => ({ path: `f${i}`, data: text('x') })));
  await rejects(t, many, 'model_archive_corrupt', /more than 16/);
});

test('extractEntries never overwrites and refuses unsafe paths', async (t) => {
  const dest = tempDir();
  await extractEntries([{ path: 'a/b.bin', data: text('1') }], dest);
  t.is(readFileSync(path.join(dest, 'a', 'b.bin'), 'utf8'), '1');
  await t.throwsAsync(extractEntries([{ path: 'a/b.bin', data: text('2') }], dest), { instanceOf: FerError, message: /a\/b\.bin: EEXIST/ });
  await t.throwsAsync(extractEntries([{ path: '../x', data: text('2') }], dest), { instanceOf: FerError });
});

/** Everything readArchive returns is safe; everything it refuses is a FerError with an archive reason. */
async function checkNeverCrashes(bytes: Uint8Array): Promise<boolean> {
  try {
    const entries = await readArchive(bytes, LIMITS);
    for (const e of entries) checkBundlePath(e.path, 'fuzz');
    return entries.reduce((n, e) => n + e.data.length, 0) <= LIMITS.maxBytes;
  } catch (err) {
    return err instanceof FerError && (err.reason === 'model_archive_corrupt' || err.reason === 'model_too_large');
  }
}

test('fuzz: random bytes never crash the reader', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), async (bytes, gz) => checkNeverCrashes(gz ? new Uint8Array(gzipSync(bytes)) : bytes)),
    { numRuns: 300 },
  );
  t.pass();
});

test('fuzz: mutated valid archives (byte flips, truncation, gzip) never crash the reader', async (t) => {
  const good = writeTar(sample);
  const mutation = fc.record({
    flips: fc.array(fc.tuple(fc.nat({ max: good.length - 1 }), fc.integer({ min: 0, max: 255 })), { minLength: 1, maxLength: 8 }),
    cut: fc.option(fc.nat({ max: good.length }), { nil: undefined }),
    gz: fc.boolean(),
  });
  await fc.assert(
    fc.asyncProperty(mutation, async ({ flips, cut, gz }) => {
      let b = good.slice();
      for (const [i, v] of flips) b[i] = v;
      if (cut !== undefined) b = b.subarray(0, cut);
      if (gz) {
        const z = gzipSync(b);
        // Mutate the compressed stream too: decompression errors must also become reasons.
        z[Math.min(z.length - 1, 12 + (flips[0]![0] % Math.max(1, z.length - 12)))] ^= flips[0]![1];
        b = new Uint8Array(z);
      }
      return checkNeverCrashes(b);
    }),
    { numRuns: 400 },
  );
  t.pass();
});

test('readTar on header-only garbage with a valid checksum still names the problem', (t) => {
  const h = new Uint8Array(1024);
  h.set(Buffer.from('x'), 0);
  h.set(Buffer.from('0000000\0'), 124);
  h.set(Buffer.from('ustar\u000000'), 257);
  h[156] = 0x32; // symlink
  h.fill(0x20, 148, 156);
  const sum = h.subarray(0, 512).reduce((a, b) => a + b, 0);
  h.set(Buffer.from(sum.toString(8).padStart(6, '0') + '\0 '), 148);
  t.throws(() => readTar(h, LIMITS), { message: /symlink/ });
});
