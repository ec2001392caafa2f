/**
 * Remembers which cameras are paused across restarts, in `<state_dir>/paused.json` when the agent has a state
 * directory. (Without one the retained `<camera>/paused` topic is read back on connect instead, see client.ts.)
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { FerError, errorMessage } from '../core/errors.js';

export class PauseStore {
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

  /** Writes atomically (temp file + rename) so a power cut never leaves half a file. */
  async save(paused: Record<string, boolean>): Promise<void> {
    try {
      await mkdir(path.dirname(this.file), { recursive: true });
      const tmp = `${this.file}.${process.pid}.tmp`;
      await writeFile(tmp, JSON.stringify(paused, null, 2) + '\n');
      await rename(tmp, this.file);
    } catch (err) {
      throw new FerError('io_failed', `cannot save paused cameras to ${this.file}: ${errorMessage(err)}`);
    }
  }
}
