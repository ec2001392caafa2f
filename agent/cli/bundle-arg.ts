/** A bundle named on the command line (a directory or an archive), read into the archive bytes that travel. */
import { readFile, stat } from 'node:fs/promises';
import { FerError } from '../core/errors.js';
import { DEFAULT_MAX_ENTRIES, packBundle, readArchive } from '../models/archive.js';
import { loadBundle, MANIFEST_FILE } from '../models/bundle.js';
import { sha256Hex } from '../models/fsutil.js';
import { parseManifest } from '../models/manifest.js';
import { parseSignatureFile, SIGNATURE_FILE } from '../models/signing.js';

export interface BundleArg {
  /** The archive bytes to send. */
  archive: Uint8Array;
  name: string;
  version: string;
  signedBy: string | null;
  /** sha256 of manifest.json: what an agent running it reports as active.sha256. */
  manifestSha256: string;
}

/** A bundle directory (verified, packed as .tar.gz) or an archive file (checked: readable, with a manifest). */
export async function readBundleArg(p: string, maxBytes: number): Promise<BundleArg> {
  if ((await stat(p)).isDirectory()) {
    const b = await loadBundle(p);
    return { archive: await packBundle(b), name: b.manifest.name, version: b.manifest.version, signedBy: b.signature?.key_id ?? null, manifestSha256: b.manifestSha256 };
  }
  const archive = new Uint8Array(await readFile(p));
  const entries = await readArchive(archive, { maxBytes, maxEntries: DEFAULT_MAX_ENTRIES });
  const m = entries.find((e) => e.path === MANIFEST_FILE);
  if (!m) throw new FerError('model_archive_corrupt', `${p} has no ${MANIFEST_FILE}`);
  const manifest = parseManifest(m.data);
  const s = entries.find((e) => e.path === SIGNATURE_FILE);
  return { archive, name: manifest.name, version: manifest.version, signedBy: s ? parseSignatureFile(s.data).key_id : null, manifestSha256: sha256Hex(m.data) };
}

