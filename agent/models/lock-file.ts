/**
 * A lock file between processes (the model store's): created with O_EXCL, holding the owner's pid. A lock whose
 * owner died (crash, power cut) is taken over, but only under a second, short-lived takeover lock and after
 * reading the pid again there: two processes that both saw the same dead pid used to both remove the file, the second
 * removing the first one's fresh lock, and both held it. A file still empty (its owner created it and is about to
 * write its pid) is not stale until it is older than EMPTY_GRACE_MS. Release removes the file only while it is ours.
 */
import { open, readFile, rm, stat } from 'node:fs/promises';
import { FerError, errorMessage } from '../core/errors.js';

const EMPTY_GRACE_MS = 5_000;
/** A takeover lock older than this was left by a process that died in the middle of a takeover. */
const TAKEOVER_STALE_MS = 10_000;

export interface LockOptions {
  /** Tries, `retryMs` apart, before giving up with io_failed. */
  attempts?: number;
  retryMs?: number;
  /** The pid written into the lock (tests); default this process's. */
  pid?: number;
  /** Writing the pid failed (a full disk): the lock is held all the same. */
  onPidNotWritten?: (err: unknown) => void;
}

/** Whether a process with this pid exists (EPERM: it does, under another user). */
export function isPidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function createExclusive(file: string, content: string, onWriteError?: (err: unknown) => void): Promise<boolean> {
  let fh: Awaited<ReturnType<typeof open>>;
  try {
    fh = await open(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new FerError('io_failed', `cannot create ${file}: ${errorMessage(err)}`);
  }
  try {
    await fh.writeFile(content);
  } catch (err) {
    onWriteError?.(err);
  } finally {
    await fh.close().catch(() => undefined);
  }
  return true;
}

/** What the lock file says now: its owner's pid, 'empty' (fresh or pid never written), or 'gone'. */
async function owner(file: string): Promise<{ pid: number | null; ageMs: number } | 'gone'> {
  try {
    const [text, st] = await Promise.all([readFile(file, 'utf8'), stat(file)]);
    const pid = Number(text.trim());
    return { pid: text.trim() !== '' && Number.isInteger(pid) && pid > 0 ? pid : null, ageMs: Date.now() - st.mtimeMs };
  } catch {
    return 'gone';
  }
}

function isStale(o: { pid: number | null; ageMs: number }): boolean {
  return o.pid === null ? o.ageMs > EMPTY_GRACE_MS : !isPidAlive(o.pid);
}

/** Takes the lock; resolves with its release. */
export async function acquireLock(file: string, opts: LockOptions = {}): Promise<() => Promise<void>> {
  const pid = String(opts.pid ?? process.pid);
  const attempts = opts.attempts ?? 600;
  const retryMs = opts.retryMs ?? 100;
  const takeover = `${file}.takeover`;
  const release = async (): Promise<void> => {
    const o = await owner(file);
    if (o !== 'gone' && String(o.pid) === pid) await rm(file, { force: true });
  };
  for (let attempt = 0; attempt < attempts; attempt++) {
    if (await createExclusive(file, pid, opts.onPidNotWritten)) return release;
    const seen = await owner(file);
    if (seen === 'gone') continue;
    if (isStale(seen)) {
      if (await createExclusive(takeover, pid)) {
        try {
          // Under the takeover lock: only a lock still stale now is removed (another process may have taken over and
          // created a fresh one since we looked).
          const now = await owner(file);
          if (now !== 'gone' && isStale(now)) await rm(file, { force: true });
          if (await createExclusive(file, pid, opts.onPidNotWritten)) return release;
        } finally {
          await rm(takeover, { force: true });
        }
      } else {
        const t = await owner(takeover);
        if (t !== 'gone' && t.ageMs > TAKEOVER_STALE_MS) await rm(takeover, { force: true });
      }
    }
    await new Promise((r) => setTimeout(r, retryMs));
  }
  throw new FerError('io_failed', `${file} is held by another process; is another model update running?`);
}
