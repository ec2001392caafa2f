/**
 * Durable file-system steps for model installs: files and directories are fsynced before the rename that makes
 * them visible, so after a power cut a name either points at complete data or at the old data.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** fsyncs a directory so the names created/renamed in it survive a power cut. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Creates a new file (never overwrites), writes it fully and fsyncs it. */
export async function writeFileDurable(file: string, data: Uint8Array | string, mode = 0o644): Promise<void> {
  const fh = await open(file, 'wx', mode);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/**
 * Replaces `file` atomically: temp file in the same directory, fsync, rename over, fsync the directory.
 * `onStep` lets crash tests stop the process between the steps.
 */
export async function atomicReplace(file: string, data: Uint8Array | string, onStep?: (step: string) => Promise<void> | void): Promise<void> {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  try {
    await writeFileDurable(tmp, data);
    await onStep?.('pointer-temp-written');
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await onStep?.('pointer-renamed');
  await fsyncDir(dir);
}

/** fsyncs every directory under (and including) `root`, deepest first. */
export async function fsyncTree(root: string): Promise<void> {
  const entries = await readdir(root, { withFileTypes: true });
  for (const e of entries) if (e.isDirectory()) await fsyncTree(path.join(root, e.name));
  await fsyncDir(root);
}

export async function ensureDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
}

/** Streaming sha256 of a file (hex) and its size in bytes. */
export async function hashFile(file: string): Promise<{ sha256: string; bytes: number }> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file)) {
    const b = chunk as Buffer;
    bytes += b.length;
    h.update(b);
  }
  return { sha256: h.digest('hex'), bytes };
}

export function sha256Hex(data: Uint8Array | string): string {
  return createHash('sha256').update(data).digest('hex');
}
