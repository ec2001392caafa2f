/**
 * Remembers which cameras are paused across restarts, in `<state_dir>/paused.json` when the agent has a state
 * directory. (Without one the retained `<camera>/paused` topic is read back on connect instead, see client.ts.)
 */
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import { FerError, errorMessage } from '../core/errors.js';

export class PauseStore {
  /** The newest state not yet written, and the one writer's run: saves are serialised, the last one wins. */
  private pending: Record<string, boolean> | null = null;
  private writing: Promise<void> | null = null;

  constructor(readonly file: string) {}

  static inDir(stateDir: string): PauseStore {
    return new PauseStore(path.join(stateDir, 'paused.json'));
  }

  /** Camera id → paused; an absent or unreadable file means nothing is paused. */
  async load(): Promise<Record<string, boolean>> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch {
      return {};
    }
    try {
      const v: unknown = JSON.parse(text);
      if (typeof v !== 'object' || v === null || Array.isArray(v)) return {};
      const out: Record<string, boolean> = {};
      for (const [k, p] of Object.entries(v)) if (typeof p === 'boolean') out[k] = p;
      return out;
    } catch {
      return {};
    }
  }

  /**
   * Saves the state; resolves once it (or a newer state saved meanwhile) is on disk. Saves never overlap: a burst of
   * pause/unpause commands is written one after another by one writer, ending with the last state (two writers
   * sharing one temp file once left the older state in place, un-pausing a camera after a restart).
   */
  save(paused: Record<string, boolean>): Promise<void> {
    this.pending = { ...paused };
    if (!this.writing) {
      this.writing = this.drain().finally(() => {
        this.writing = null;
      });
    }
    return this.writing;
  }

  private async drain(): Promise<void> {
    let failure: unknown = null;
    while (this.pending) {
      const state = this.pending;
      this.pending = null;
      try {
        await this.write(state);
        failure = null;
      } catch (err) {
        failure = err; // a later, newer state may still be written; only the last outcome counts
      }
    }
    if (failure) throw new FerError('io_failed', `cannot save paused cameras to ${this.file}: ${errorMessage(failure)}`);
  }

  /** Atomic and durable: temp file, fsync, rename, so a power cut leaves the old or the new file, never half. */
  private async write(state: Record<string, boolean>): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state, null, 2) + '\n');
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.file);
  }
}
