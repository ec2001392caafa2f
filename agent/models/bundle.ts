/**
 * A bundle directory on disk, checked against its manifest: every listed file exists as a regular file inside the
 * bundle (no symlinks out), with the listed size and sha256. Signature trust is checked separately (signing.ts).
 */
import { lstat, readFile, realpath, stat } from 'node:fs/promises';
import path from 'node:path';
import { FerError, errorMessage } from '../core/errors.js';
import { hashFile, sha256Hex } from './fsutil.js';
import { MAX_MANIFEST_BYTES, parseManifest, type Manifest } from './manifest.js';
import { parseSignatureFile, SIGNATURE_FILE, type SignatureFile } from './signing.js';

export const MANIFEST_FILE = 'manifest.json';

export interface LoadedBundle {
  dir: string;
  manifest: Manifest;
  manifestBytes: Uint8Array;
  /** sha256 (hex) of manifest.json: identifies the bundle (it pins every other file's hash). */
  manifestSha256: string;
  signature: SignatureFile | null;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

async function readSmallRegular(file: string, max: number, what: string, missingOk: boolean): Promise<Buffer | null> {
  let st;
  try {
    st = await lstat(file);
  } catch (err) {
    if (isMissing(err) && missingOk) return null;
    throw new FerError('model_invalid', `${what} ${file} cannot be read: ${errorMessage(err)}`);
  }
  if (!st.isFile()) throw new FerError('model_invalid', `${what} ${file} is not a regular file`);
  if (st.size > max) throw new FerError('model_invalid', `${what} ${file} is ${st.size} bytes; at most ${max} are accepted`);
  return readFile(file);
}

/** Verifies the bundle at `dir` and returns its manifest. Throws FerError with the reason otherwise. */
export async function loadBundle(dir: string): Promise<LoadedBundle> {
  let root: string;
  try {
    if (!(await stat(dir)).isDirectory()) throw new Error('not a directory');
    root = await realpath(dir);
  } catch (err) {
    throw new FerError('model_invalid', `bundle ${dir} is not a readable directory: ${errorMessage(err)}`);
  }
  const manifestBytes = (await readSmallRegular(path.join(root, MANIFEST_FILE), MAX_MANIFEST_BYTES, 'manifest', false))!;
  const manifest = parseManifest(manifestBytes);
  const sigBytes = await readSmallRegular(path.join(root, SIGNATURE_FILE), 4096, 'signature', true);
  const signature = sigBytes ? parseSignatureFile(sigBytes) : null;

  for (const [rel, entry] of Object.entries(manifest.files)) {
    const file = path.join(root, ...rel.split('/'));
    let st;
    try {
      st = await lstat(file);
    } catch (err) {
      throw new FerError('model_invalid', `files[${JSON.stringify(rel)}] is listed in the manifest but ${isMissing(err) ? 'missing' : 'unreadable: ' + errorMessage(err)}`);
    }
    if (!st.isFile()) throw new FerError('model_invalid', `files[${JSON.stringify(rel)}] is not a regular file (symlinks and folders are not allowed)`);
    // A symlinked folder on the way could still lead outside the bundle.
    const real = await realpath(file);
    if (!real.startsWith(root + path.sep)) throw new FerError('model_invalid', `files[${JSON.stringify(rel)}] resolves outside the bundle (${real})`);
    if (st.size !== entry.bytes) {
      throw new FerError('model_hash_mismatch', `files[${JSON.stringify(rel)}] has ${st.size} bytes; the manifest says ${entry.bytes}`);
    }
    const h = await hashFile(file);
    if (h.sha256 !== entry.sha256) {
      throw new FerError('model_hash_mismatch', `files[${JSON.stringify(rel)}] has sha256 ${h.sha256}; the manifest says ${entry.sha256}`);
    }
  }
  return { dir: path.resolve(dir), manifest, manifestBytes: new Uint8Array(manifestBytes), manifestSha256: sha256Hex(manifestBytes), signature };
}
