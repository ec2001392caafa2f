/** A manifest of a file tree (type, mode, owner, content hash or link target, mtime) to prove what changed. */
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import path from 'node:path';

export interface Entry {
  kind: 'file' | 'dir' | 'link' | 'other';
  mode: number;
  uid: number;
  gid: number;
  /** sha256 of a file, the target of a link. */
  content: string;
  mtimeMs: number;
}

export type Manifest = Map<string, Entry>;

/**
 * Walks `root`, skipping the given paths: the test's mount points (/proc, /dev, /src, the npm cache) and /run,
 * which is a fresh tmpfs on every boot (systemd-analyze leaves a marker there).
 */
export function manifest(root: string, skip: readonly string[] = ['/proc', '/dev', '/src', '/root/.npm', '/run']): Manifest {
  const out: Manifest = new Map();
  const walk = (rel: string): void => {
    const abs = path.join(root, rel);
    const st = lstatSync(abs);
    let kind: Entry['kind'] = 'other';
    let content = '';
    if (st.isSymbolicLink()) {
      kind = 'link';
      content = readlinkSync(abs);
    } else if (st.isFile()) {
      kind = 'file';
      content = createHash('sha256').update(readFileSync(abs)).digest('hex');
    } else if (st.isDirectory()) {
      kind = 'dir';
    }
    out.set(rel, { kind, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, content, mtimeMs: Math.round(st.mtimeMs) });
    if (kind === 'dir') {
      for (const name of readdirSync(abs).sort()) {
        const child = rel === '/' ? `/${name}` : `${rel}/${name}`;
        if (!skip.includes(child)) walk(child);
      }
    }
  };
  walk('/');
  return out;
}

/** Paths added, removed or changed between two manifests; mtimes count only when `withTimes` is set. */
export function diff(a: Manifest, b: Manifest, withTimes: boolean): { added: string[]; removed: string[]; changed: string[] } {
  const added = [...b.keys()].filter((k) => !a.has(k));
  const removed = [...a.keys()].filter((k) => !b.has(k));
  const changed = [...a.keys()].filter((k) => {
    const x = a.get(k);
    const y = b.get(k);
    if (!x || !y) return false;
    if (x.kind !== y.kind || x.mode !== y.mode || x.uid !== y.uid || x.gid !== y.gid || x.content !== y.content) return true;
    // A directory's mtime moves whenever an entry is added or removed; only file and link times are compared.
    return withTimes && x.kind !== 'dir' && x.mtimeMs !== y.mtimeMs;
  });
  return { added, removed, changed };
}
