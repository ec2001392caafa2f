/**
 * The single-file transport form of a bundle: a POSIX ustar archive, optionally gzipped. Our own small reader and
 * writer, because the archive arrives from the network: the reader accepts only regular files (and ignorable
 * folder / pax entries), relative paths without `..`, bounded entry counts and sizes, valid checksums, and says
 * exactly what is wrong otherwise. It never throws anything but a FerError.
 */
import { readFile } from 'node:fs/promises';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { gunzip, gzip, constants as zc } from 'node:zlib';
import { FerError, errorMessage } from '../core/errors.js';
import { checkBundlePath } from './manifest.js';
import { MANIFEST_FILE, type LoadedBundle } from './bundle.js';
import { SIGNATURE_FILE } from './signing.js';

const BLOCK = 512;
const gunzipAsync = promisify(gunzip);
const gzipAsync = promisify(gzip);

export interface TarEntry {
  path: string;
  data: Uint8Array;
}

export interface ArchiveLimits {
  /** Largest archive after decompression, and largest sum of entry sizes. */
  maxBytes: number;
  maxEntries: number;
}

export const DEFAULT_MAX_ENTRIES = 256;
const MAX_PAX_BYTES = 64 * 1024;

function corrupt(msg: string): never {
  throw new FerError('model_archive_corrupt', `archive ${msg}`);
}

// ---------------------------------------------------------------- writer

function putString(h: Uint8Array, off: number, len: number, s: string): void {
  const b = Buffer.from(s, 'utf8');
  if (b.length > len) throw new FerError('model_invalid', `tar field value ${JSON.stringify(s)} is longer than ${len} bytes`);
  h.set(b, off);
}

function putOctal(h: Uint8Array, off: number, len: number, n: number): void {
  putString(h, off, len, n.toString(8).padStart(len - 1, '0') + '\0');
}

/** Splits a long path into ustar prefix + name at a `/`. */
function splitPath(p: string): { prefix: string; name: string } {
  if (Buffer.byteLength(p) <= 100) return { prefix: '', name: p };
  for (let i = p.indexOf('/'); i !== -1; i = p.indexOf('/', i + 1)) {
    const prefix = p.slice(0, i);
    const name = p.slice(i + 1);
    if (Buffer.byteLength(prefix) <= 155 && Buffer.byteLength(name) <= 100) return { prefix, name };
  }
  throw new FerError('model_invalid', `path ${JSON.stringify(p)} is too long for a ustar archive`);
}

function header(p: string, size: number, mtimeS: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  const { prefix, name } = splitPath(p);
  putString(h, 0, 100, name);
  putOctal(h, 100, 8, 0o644);
  putOctal(h, 108, 8, 0);
  putOctal(h, 116, 8, 0);
  putOctal(h, 124, 12, size);
  putOctal(h, 136, 12, mtimeS);
  h[156] = 0x30; // '0': regular file
  putString(h, 257, 6, 'ustar\0');
  putString(h, 263, 2, '00');
  putString(h, 345, 155, prefix);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  putString(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
  return h;
}

/** A ustar archive of regular files, in the given order, ending with two zero blocks. */
export function writeTar(entries: readonly TarEntry[], mtimeS = 0): Uint8Array {
  const parts: Uint8Array[] = [];
  for (const e of entries) {
    checkBundlePath(e.path, `archive entry ${JSON.stringify(e.path)}`);
    parts.push(header(e.path, e.data.length, mtimeS), e.data);
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK;
    if (pad) parts.push(new Uint8Array(pad));
  }
  parts.push(new Uint8Array(2 * BLOCK));
  return new Uint8Array(Buffer.concat(parts));
}

export async function gzipBytes(data: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await gzipAsync(data, { level: zc.Z_BEST_COMPRESSION }));
}

/** The transport form of a verified bundle: manifest.json first, then signature.json, listed files, report/. */
export async function packBundle(b: LoadedBundle, opts: { gzip?: boolean; extra?: readonly TarEntry[] } = {}): Promise<Uint8Array> {
  const entries: TarEntry[] = [{ path: MANIFEST_FILE, data: b.manifestBytes }];
  if (b.signature) entries.push({ path: SIGNATURE_FILE, data: Buffer.from(JSON.stringify(b.signature, null, 2) + '\n') });
  for (const rel of Object.keys(b.manifest.files).sort()) entries.push({ path: rel, data: await readFile(path.join(b.dir, ...rel.split('/'))) });
  entries.push(...(opts.extra ?? []));
  const tar = writeTar(entries);
  return opts.gzip === false ? tar : gzipBytes(tar);
}

// ---------------------------------------------------------------- reader

function cString(h: Uint8Array, off: number, len: number, field: string, at: number): string {
  const raw = h.subarray(off, off + len);
  const end = raw.indexOf(0);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(end === -1 ? raw : raw.subarray(0, end));
  } catch {
    return corrupt(`header at byte ${at}: ${field} is not valid UTF-8`);
  }
}

/** Octal number field: digits, optionally surrounded by spaces and NULs (as tars write them). */
function octal(h: Uint8Array, off: number, len: number, field: string, at: number): number {
  const s = Buffer.from(h.subarray(off, off + len)).toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
  if (!/^[0-7]{1,12}$/.test(s)) corrupt(`header at byte ${at}: ${field} ${JSON.stringify(s)} is not an octal number`);
  return parseInt(s, 8);
}

function isZero(b: Uint8Array): boolean {
  for (const x of b) if (x !== 0) return false;
  return true;
}

/** pax extended header records: "<len> <key>=<value>\n". Only path and size matter to us. */
function parsePax(data: Uint8Array, at: number): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp === -1 || sp - i > 8) corrupt(`pax header at byte ${at}: record at ${i} has no length`);
    const lenStr = Buffer.from(data.subarray(i, sp)).toString('latin1');
    if (!/^[1-9]\d*$/.test(lenStr)) corrupt(`pax header at byte ${at}: record length ${JSON.stringify(lenStr)} is not a number`);
    const len = Number(lenStr);
    if (i + len > data.length || data[i + len - 1] !== 0x0a) corrupt(`pax header at byte ${at}: record at ${i} overruns or lacks its newline`);
    let rec: string;
    try {
      rec = new TextDecoder('utf-8', { fatal: true }).decode(data.subarray(sp + 1, i + len - 1));
    } catch {
      return corrupt(`pax header at byte ${at}: record at ${i} is not UTF-8`);
    }
    const eq = rec.indexOf('=');
    if (eq <= 0) corrupt(`pax header at byte ${at}: record at ${i} has no key=value`);
    out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

/**
 * Parses a tar archive held in memory. Regular files are returned; folder entries are checked and skipped;
 * pax `x` headers may set the next entry's path/size, pax `g` headers are checked and ignored.
 */
export function readTar(bytes: Uint8Array, limits: ArchiveLimits): TarEntry[] {
  if (bytes.length > limits.maxBytes) throw new FerError('model_too_large', `archive is ${bytes.length} bytes; at most ${limits.maxBytes} are accepted`);
  if (bytes.length === 0) corrupt('is empty');
  if (bytes.length % BLOCK !== 0) corrupt(`is ${bytes.length} bytes, not a multiple of ${BLOCK} (truncated?)`);
  const entries: TarEntry[] = [];
  const seen = new Set<string>();
  let total = 0;
  let headers = 0;
  let pax: Map<string, string> | null = null;
  let off = 0;
  for (;;) {
    if (off + BLOCK > bytes.length) corrupt('ends without the end-of-archive blocks (truncated?)');
    const h = bytes.subarray(off, off + BLOCK);
    if (isZero(h)) {
      if (!isZero(bytes.subarray(off))) corrupt(`has data after the end-of-archive block at byte ${off}`);
      if (pax) corrupt('ends right after a pax header');
      break;
    }
    const at = off;
    if (++headers > limits.maxEntries * 2 + 2) corrupt(`has more than ${limits.maxEntries} entries`);
    let sum = 0;
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
    const stored = octal(h, 148, 8, 'checksum', at);
    if (stored !== sum) corrupt(`header at byte ${at}: checksum ${stored} does not match ${sum}`);
    const magic = Buffer.from(h.subarray(257, 265)).toString('latin1');
    if (magic !== 'ustar\u000000' && magic !== 'ustar  \u0000') corrupt(`header at byte ${at}: not a ustar header (magic ${JSON.stringify(magic)})`);
    const type = String.fromCharCode(h[156]!);
    let size = octal(h, 124, 12, 'size', at);
    const prefix = cString(h, 345, 155, 'prefix', at);
    const name = cString(h, 0, 100, 'name', at);
    let p = prefix ? `${prefix}/${name}` : name;
    if (pax) {
      if (pax.has('path')) p = pax.get('path')!;
      if (pax.has('size')) {
        const s = pax.get('size')!;
        if (!/^\d{1,15}$/.test(s)) corrupt(`pax header before byte ${at}: size ${JSON.stringify(s)} is not a number`);
        size = Number(s);
      }
      pax = null;
    }
    const dataStart = off + BLOCK;
    const dataEnd = dataStart + size;
    if (dataEnd > bytes.length) corrupt(`entry ${JSON.stringify(p)} at byte ${at}: its ${size} bytes run past the end (truncated?)`);
    off = dataStart + Math.ceil(size / BLOCK) * BLOCK;
    const data = bytes.subarray(dataStart, dataEnd);

    if (type === 'x' || type === 'g') {
      if (size > MAX_PAX_BYTES) corrupt(`pax header at byte ${at} is ${size} bytes; at most ${MAX_PAX_BYTES}`);
      const recs = parsePax(data, at);
      if (type === 'x') pax = recs;
      continue;
    }
    if (type !== '0' && type !== '\0' && type !== '5') {
      const kinds: Record<string, string> = { '1': 'hard link', '2': 'symlink', '3': 'character device', '4': 'block device', '6': 'FIFO', '7': 'contiguous file', L: 'GNU long name', K: 'GNU long link' };
      corrupt(`entry ${JSON.stringify(p)} at byte ${at} is a ${kinds[type] ?? `type ${JSON.stringify(type)} entry`}; only regular files are accepted`);
    }
    // Archives made with `tar -C dir .` name entries "./x" and contain "./" itself.
    let rel = p.replace(/^(\.\/)+/, '');
    if (type === '5') {
      if (size !== 0) corrupt(`folder entry ${JSON.stringify(p)} at byte ${at} has data`);
      rel = rel.replace(/\/+$/, '');
      if (rel === '' || rel === '.') continue;
    }
    try {
      checkBundlePath(rel, `archive entry ${JSON.stringify(p)}`);
    } catch (err) {
      corrupt(`entry ${JSON.stringify(p)} at byte ${at} has an unsafe path: ${errorMessage(err)}`);
    }
    if (type === '5') continue;
    if (seen.has(rel)) corrupt(`entry ${JSON.stringify(rel)} appears twice`);
    seen.add(rel);
    if (entries.length >= limits.maxEntries) corrupt(`has more than ${limits.maxEntries} files`);
    total += size;
    if (total > limits.maxBytes) throw new FerError('model_too_large', `archive files add up to more than ${limits.maxBytes} bytes`);
    entries.push({ path: rel, data });
  }
  // A file and a folder of the same name would collide on extraction.
  for (const e of entries) {
    const segs = e.path.split('/');
    for (let i = 1; i < segs.length; i++) if (seen.has(segs.slice(0, i).join('/'))) corrupt(`entry ${JSON.stringify(segs.slice(0, i).join('/'))} is both a file and a folder`);
  }
  return entries;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** gunzip with an output cap, so a small bomb cannot fill memory. */
export async function gunzipLimited(bytes: Uint8Array, maxBytes: number): Promise<Uint8Array> {
  try {
    return new Uint8Array(await gunzipAsync(bytes, { maxOutputLength: maxBytes }));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new FerError('model_too_large', `archive decompresses to more than ${maxBytes} bytes`);
    }
    return corrupt(`is not valid gzip: ${errorMessage(err)}`);
  }
}

/** Raw bytes of a `.tar`, `.tar.gz` or `.fer` → entries, with all checks. */
export async function readArchive(bytes: Uint8Array, limits: ArchiveLimits): Promise<TarEntry[]> {
  if (bytes.length > limits.maxBytes) throw new FerError('model_too_large', `archive is ${bytes.length} bytes; at most ${limits.maxBytes} are accepted`);
  const tar = isGzip(bytes) ? await gunzipLimited(bytes, limits.maxBytes) : bytes;
  return readTar(tar, limits);
}

/** Writes checked entries below `dest` (which must exist); never overwrites, never leaves `dest`. */
export async function extractEntries(entries: readonly TarEntry[], dest: string): Promise<void> {
  const root = path.resolve(dest);
  for (const e of entries) {
    const file = path.resolve(root, ...checkBundlePath(e.path, 'archive entry').split('/'));
    if (!file.startsWith(root + path.sep)) corrupt(`entry ${JSON.stringify(e.path)} would land outside the bundle`);
    try {
      await mkdir(path.dirname(file), { recursive: true });
      const fh = await open(file, 'wx', 0o644);
      try {
        await fh.writeFile(e.data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      throw new FerError('io_failed', `cannot write ${file}: ${errorMessage(err)}`, { cause: err });
    }
  }
}
