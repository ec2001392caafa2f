/**
 * Reading one stored image for the file and dir sources, safely: only regular files (a FIFO, a device such as
 * /dev/zero, or a symlink to one is refused without reading a byte and without blocking), at most `maxBytes`, checked
 * with fstat before reading and again while reading (a file that grows past the cap is refused too).
 */
import { constants, open, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { FerError, errorMessage } from '../core/errors.js';
import { DEFAULT_MAX_FRAME_BYTES } from './mjpeg-splitter.js';

/** The same cap as an HTTP snapshot or MJPEG part. */
export const MAX_IMAGE_FILE_BYTES = DEFAULT_MAX_FRAME_BYTES;
const CHUNK = 1 << 20;

function kind(st: Stats): string {
  if (st.isFIFO()) return 'a FIFO';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a folder';
  return 'not a regular file';
}

/** Why a file is refused (frame_corrupt: skip it and go on), or the bytes. Open/read errors are source_failed. */
export async function readImageFile(file: string, maxBytes = MAX_IMAGE_FILE_BYTES): Promise<Uint8Array> {
  let fh: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO with no writer must not wait for one; it changes nothing for regular files.
    fh = await open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw new FerError('source_failed', `${file} cannot be opened: ${errorMessage(err)}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new FerError('frame_corrupt', `${file} is ${kind(st)}, not a regular file: refused`);
    if (st.size > maxBytes) throw new FerError('frame_corrupt', `${file} is ${st.size} bytes, over the ${maxBytes} byte limit for a frame: refused`);
    const parts: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.allocUnsafe(Math.min(CHUNK, maxBytes + 1 - total));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) break;
      total += bytesRead;
      if (total > maxBytes) throw new FerError('frame_corrupt', `${file} grew past the ${maxBytes} byte limit for a frame while being read: refused`);
      parts.push(buf.subarray(0, bytesRead));
    }
    const out = parts.length === 1 ? parts[0]! : Buffer.concat(parts, total);
    return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
  } catch (err) {
    if (err instanceof FerError) throw err;
    throw new FerError('source_failed', `${file} cannot be read: ${errorMessage(err)}`);
  } finally {
    await fh.close();
  }
}
